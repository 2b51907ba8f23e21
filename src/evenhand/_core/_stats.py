"""The one aggregation pass: per-group sufficient statistics computed by the data's engine.

For a binary task every row is mapped to a cell ``(group, y_true, y_pred, score_bin)`` and
one ``group_by`` (run by polars, pandas, pyarrow, DuckDB or Spark through narwhals) returns,
per cell, the row count, the sum of weights and of squared weights, the weighted sums of scores
and of squared scores, and the largest score. Every metric, disparity and interval is then
derived on the numpy side from this small table (see :mod:`evenhand._core._metrics`).
Intersections, single attributes and the overall population are sums of the same table, so
they cost no further pass.

A cheap validation pass first reads the row count, null/NaN counts and the score range.

Exactness of the histogram: each cell also returns its largest score ``max``. A bin holds a
single distinct score when, in each of its cells, ``Σw·max − Σw·s`` (which is ``Σw (max − s)``,
zero only for ties) is within rounding of zero — ``1e-9 · Σw · |max|``, far above the
rounding error of any engine's floating-point sum — and the cells agree on ``max``. Scores that
differ by less than that count as ties, as the histogram's AUC already treats them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import polars as pl

from evenhand._core._errors import EvenhandError
from evenhand._core._frame import group_codes
from evenhand._core._metrics import CALIBRATION_BINS

__all__ = ["BinaryStats", "RegressionStats", "aggregate_binary", "aggregate_regression"]

DEFAULT_BINS = 1000  # divisible by 10 so calibration deciles align with histogram bins

_KEY = "__evenhand_key"
_W = "__evenhand_w"


@dataclass(frozen=True)
class BinaryStats:
    """Sufficient statistics of a binary task, one slice per group.

    Arrays are indexed ``[group, y_true, y_pred, bin]``. ``weight`` holds weighted counts,
    ``rows`` unweighted row counts, ``weight_sq`` sums of squared weights, ``score_sum``
    weighted sums of scores and ``score_sq`` weighted sums of squared scores (the last two
    only with a score). ``bin_max`` is the largest score seen in each bin (``nan`` where
    empty) and ``bin_exact`` whether the bin holds one distinct score (see the module notes);
    ``edges`` the bin edges (see ``_bin_expression``), ``calib`` the calibration bin (0-9)
    of each bin and ``probability`` whether scores lie in [0, 1].
    """

    keys: pl.DataFrame
    weight: np.ndarray
    rows: np.ndarray
    weight_sq: np.ndarray
    score_sum: np.ndarray | None = None
    score_sq: np.ndarray | None = None
    bin_max: np.ndarray | None = None
    bin_exact: np.ndarray | None = None
    edges: np.ndarray | None = None
    calib: np.ndarray | None = None
    probability: bool = False

    @property
    def has_score(self) -> bool:
        """Whether scores were aggregated."""
        return self.score_sum is not None

    @property
    def score_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(score_sum, score_sq, calib)``, set together; only call when ``has_score``."""
        score_sum, score_sq, calib = self.score_sum, self.score_sq, self.calib
        assert score_sum is not None, "no score was aggregated"
        assert score_sq is not None
        assert calib is not None
        return score_sum, score_sq, calib

    @property
    def weighted(self) -> bool:
        """Whether any row weight differs from 1."""
        return not np.array_equal(self.weight, self.rows)

    @property
    def exact_bins(self) -> bool:
        """True when every histogram bin holds a single distinct score (AUC is then exact)."""
        if self.bin_exact is None:
            return True
        assert self.bin_max is not None  # both are set from the score (see _to_arrays)
        return bool(np.all(self.bin_exact[~np.isnan(self.bin_max)]))


@dataclass(frozen=True)
class RegressionStats:
    """Per-group weighted sums of a regression task (arrays indexed by group).

    ``sums`` maps a name to an array: ``n`` rows, ``w`` Σw, ``w2`` Σw², ``y`` Σwy,
    ``y2`` Σwy², ``p`` Σwŷ, ``p2`` Σwŷ², ``r`` Σw(ŷ−y), ``r2`` Σw(ŷ−y)², ``r4`` Σw(ŷ−y)⁴,
    ``abs_r`` Σw|ŷ−y|.
    """

    keys: pl.DataFrame
    sums: dict[str, np.ndarray]

    @property
    def weighted(self) -> bool:
        """Whether any row weight differs from 1."""
        return not np.array_equal(self.sums["w"], self.sums["n"])

    def regroup(self, keys: pl.DataFrame, codes: np.ndarray) -> RegressionStats:
        """Sum groups that share a code."""
        out = {}
        for name, a in self.sums.items():
            folded = np.zeros(len(keys), dtype=a.dtype)
            np.add.at(folded, codes, a)
            out[name] = folded
        return RegressionStats(keys=keys, sums=out)


def _collect(frame: nw.DataFrame | nw.LazyFrame) -> pl.DataFrame:
    if isinstance(frame, nw.LazyFrame):
        return frame.collect(backend="polars").to_native()
    return frame.to_polars()


def _validation_pass(
    frame: nw.DataFrame | nw.LazyFrame,
    *,
    checked: dict[str, str],
    score: str | None,
    weight: str | None,
) -> dict[str, Any]:
    """Row count, nulls/NaNs per role column, score range and weight sign, in one scan."""
    schema = frame.collect_schema()
    exprs = [nw.len().alias("__rows")]
    for i, col in enumerate(checked):
        # null_count reads arrow metadata; NaN needs a scan (pandas counts NaN as null)
        exprs.append(nw.col(col).null_count().alias(f"__miss{i}"))
        if schema[col].is_float():
            nan = nw.col(col).is_nan() & ~nw.col(col).is_null()
            exprs.append(nan.cast(nw.Int64).sum().alias(f"__nan{i}"))
    if score is not None:
        exprs += [nw.col(score).min().alias("__smin"), nw.col(score).max().alias("__smax")]
    if weight is not None:
        exprs.append(nw.col(weight).min().alias("__wmin"))
    row = _collect(_lazy(frame).select(*exprs)).row(0, named=True)
    if row["__rows"] == 0:
        raise EvenhandError("The data has no rows. Pass a non-empty table.")
    for i, (col, role) in enumerate(checked.items()):
        count = int(row[f"__miss{i}"] or 0) + int(row.get(f"__nan{i}") or 0)
        if count:
            raise EvenhandError(_missing_message(col, role, count, row["__rows"]))
    if weight is not None and row["__wmin"] < 0:
        raise EvenhandError(
            f"Column {weight!r} (given as weight) has negative values (min {row['__wmin']!r}). "
            "Weights must be non-negative."
        )
    return row


def checked_columns(
    sensitive: Sequence[str], dropna: bool, **roles: str | None
) -> dict[str, str]:
    """Map each column that must have no missing value to its role (argument name).

    Sensitive columns are checked only with ``dropna`` (otherwise missing values form their
    own group).
    """
    checked = {col: role for role, col in roles.items() if col is not None}
    if dropna:
        checked.update({c: "sensitive" for c in sensitive if c not in checked})
    return checked


def _missing_message(col: str, role: str, count: int, rows: int) -> str:
    if role == "sensitive":
        return (
            f"Column {col!r} (given as sensitive) has {count} missing values out of {rows}. "
            "Fill or drop them first, or pass dropna=False to keep them as their own group."
        )
    return (
        f"Column {col!r} (given as {role}) has {count} missing (null or NaN) values out of "
        f"{rows}. Drop or impute those rows before auditing."
    )


def _indicator(
    frame: nw.DataFrame | nw.LazyFrame, col: str, pos_label: Any, role: str
) -> tuple[nw.Expr, bool]:
    """Expression for the 0/1 value of a binary column, and whether values need checking.

    Numeric and boolean columns are cast and their values checked to be 0/1 afterwards;
    other columns compare to ``pos_label``, after checking they hold at most two values.
    """
    dtype = frame.collect_schema()[col]
    if dtype == nw.Boolean:
        return nw.col(col).cast(nw.Int64), False
    if dtype.is_numeric():
        if pos_label in (1, True):
            return nw.col(col).cast(nw.Int64), True
        return (nw.col(col) == pos_label).cast(nw.Int64), False
    values = _collect(frame.select(nw.col(col).n_unique().alias("n"))).item()
    if values > 2:
        raise EvenhandError(
            f"Column {col!r} (given as {role}) has {values} distinct values; a binary metric "
            f"needs two. Map it to 0/1 first, or audit a regression task."
        )
    if pos_label in (1, True):
        raise EvenhandError(
            f"Column {col!r} (given as {role}) is not numeric or boolean. Pass "
            f"pos_label=<the value meaning the positive class>."
        )
    return (nw.col(col) == pos_label).cast(nw.Int64), False


def _check_binary_keys(values: np.ndarray, col: str, role: str) -> None:
    bad = np.setdiff1d(np.unique(values), [0, 1])
    if bad.size:
        raise EvenhandError(
            f"Column {col!r} (given as {role}) has values other than 0 and 1: "
            f"{bad[:5].tolist()}. Binary metrics need 0/1 (or boolean) labels; map the column, "
            f"pass pos_label=..., or use task='multiclass' or task='regression'."
        )


def aggregate_binary(
    frame: nw.DataFrame | nw.LazyFrame,
    *,
    sensitive: Sequence[str],
    y_true: str,
    y_pred: str | None,
    y_score: str | None,
    weight: str | None,
    threshold: float | None,
    pos_label: Any = 1,
    dropna: bool = True,
    n_bins: int = DEFAULT_BINS,
) -> BinaryStats:
    """Aggregate a binary task into :class:`BinaryStats` in one ``group_by`` pass."""
    checked = checked_columns(sensitive, dropna, y_true=y_true, y_pred=y_pred, y_score=y_score,
                              weight=weight)
    info = _validation_pass(frame, checked=checked, score=y_score, weight=weight)

    yt, check_yt = _indicator(frame, y_true, pos_label, "y_true")
    if y_pred is not None:
        yp, check_yp = _indicator(frame, y_pred, pos_label, "y_pred")
    else:
        score_col = _check_threshold(threshold, info, y_score)
        yp, check_yp = (nw.col(score_col) >= threshold).cast(nw.Int64), False
    bins, binning = _bin_expression(y_score, info, n_bins)
    n_b = 1 if binning is None else len(binning.edges) - 1
    key = (yt * 2 + yp) * n_b + bins
    cols, aggs = _cell_sums(frame, y_score, weight)
    grouped = _lazy(frame).with_columns(key.alias(_KEY), *cols)
    table = _collect(grouped.group_by(*sensitive, _KEY, drop_null_keys=False).agg(*aggs))
    return _to_arrays(table, sensitive, n_b, binning, (y_true, check_yt), (y_pred, check_yp))


def _cell_sums(
    frame: nw.DataFrame | nw.LazyFrame, y_score: str | None, weight: str | None
) -> tuple[list[nw.Expr], list[nw.Expr]]:
    """Build the derived columns and per-cell aggregations: rows, Σw, Σw², Σws, Σws², max s.

    Unit weights need no weight columns (Σw and Σw² are then the row count). Sums of plain
    columns are aggregated directly: engines (and narwhals' pandas path) run those natively.
    """
    cols, aggs = [], [nw.len().alias("__n")]
    w = None
    if weight is not None:
        w = nw.col(weight).cast(nw.Float64)
        cols += [w.alias(_W), (w * w).alias("__w2")]
        aggs += [nw.col(_W).sum(), nw.col("__w2").sum()]
    if y_score is None:
        return cols, aggs
    s = score = nw.col(y_score)
    if frame.collect_schema()[y_score] != nw.Float64:
        s = score.cast(nw.Float64)
        cols.append(s.alias("__s"))
        score = nw.col("__s")
    if w is None:
        cols.append((s * s).alias("__ws2"))
        aggs.append(score.sum().alias("__ws"))
    else:
        cols += [(w * s).alias("__ws"), (w * s * s).alias("__ws2")]
        aggs.append(nw.col("__ws").sum())
    return cols, [*aggs, nw.col("__ws2").sum(), score.max().alias("__smax")]


def _lazy(frame: nw.DataFrame | nw.LazyFrame) -> nw.DataFrame | nw.LazyFrame:
    """Let polars fuse the derived columns into the aggregation instead of materialising them."""
    if isinstance(frame, nw.DataFrame) and frame.implementation.is_polars():
        return frame.lazy()
    return frame


def _check_threshold(threshold: float | None, info: dict[str, Any], y_score: str | None) -> str:
    """Check that decisions can be ``y_score >= threshold``; return the score column."""
    if y_score is None:
        raise EvenhandError("Pass y_pred (decisions) or y_score with a threshold.")
    if threshold is None:
        raise EvenhandError(
            f"y_score={y_score!r} was given without y_pred: pass threshold=... so decisions "
            "are y_score >= threshold."
        )
    lo, hi = info["__smin"], info["__smax"]
    if not lo <= threshold <= hi:
        raise EvenhandError(
            f"threshold={threshold!r} lies outside the range of {y_score!r} "
            f"[{lo!r}, {hi!r}]: every decision would be the same. Pick a threshold in range."
        )
    return y_score


@dataclass(frozen=True)
class _Binning:
    """Histogram bins of the score.

    ``edges`` (``n + 1``), each bin's calibration bin and whether scores lie in [0, 1].
    """

    edges: np.ndarray
    calib: np.ndarray
    probability: bool


def _bin_expression(
    y_score: str | None, info: dict[str, Any], n_bins: int
) -> tuple[nw.Expr, _Binning | None]:
    """Histogram bin of the score, about ``n_bins`` uniform bins over its observed range.

    Probabilities (scores in [0, 1]) get bins of width ``0.1 / k`` (``k`` a whole number) so
    every calibration decile of [0, 1] is a union of bins, whatever the range: a model whose
    scores all lie in [0.30, 0.32] still gets ~``n_bins`` bins there. Other scores get
    ``n_bins`` bins over [min, max], whose tenths are the calibration bins.
    """
    if y_score is None:
        return nw.lit(0), None
    lo, hi = float(info["__smin"]), float(info["__smax"])
    score = nw.col(y_score).cast(nw.Float64)
    if lo >= 0.0 and hi <= 1.0:
        per_decile = 1 if hi <= lo else int(min(np.ceil(n_bins * 0.1 / (hi - lo)), 1e12))
        scale = 10 * per_decile  # bins per unit of score
        first, last = (min(int(np.floor(v * scale)), scale - 1) for v in (lo, hi))
        expr = ((score * scale).floor().clip(first, last) - first).cast(nw.Int64)
        index = first + np.arange(last - first + 1)
        return expr, _Binning(np.append(index, last + 1) / scale,
                              np.minimum(index // per_decile, CALIBRATION_BINS - 1), True)
    if hi <= lo:
        return nw.lit(0), _Binning(np.array([lo, lo]), np.zeros(1, dtype=np.int64), False)
    scaled = ((score - lo) * (n_bins / (hi - lo))).floor()
    expr = scaled.clip(0, n_bins - 1).cast(nw.Int64)
    calib = (np.arange(n_bins) * CALIBRATION_BINS) // n_bins
    return expr, _Binning(np.linspace(lo, hi, n_bins + 1), calib, False)


def _to_arrays(
    table: pl.DataFrame,
    sensitive: Sequence[str],
    n_b: int,
    binning: _Binning | None,
    y_true: tuple[str, bool],
    y_pred: tuple[str | None, bool],
) -> BinaryStats:
    key = table.get_column(_KEY).to_numpy()
    cell, bin_ = np.divmod(key, n_b)
    yt, yp = np.divmod(cell, 2)
    for (col, check), values, role in ((y_true, yt, "y_true"), (y_pred, yp, "y_pred")):
        if check:
            assert col is not None  # only given columns are flagged for checking
            _check_binary_keys(values, col, role)
    keys, codes = group_codes(table, sensitive)
    shape = (len(keys), 2, 2, n_b)
    flat = np.ravel_multi_index((codes, yt, yp, bin_), shape)
    size = int(np.prod(shape))

    def dense(column: str) -> np.ndarray:
        # unit weights: the weight sums are the row counts
        values = table.get_column(column if column in table.columns else "__n").to_numpy()
        return np.bincount(flat, weights=values, minlength=size).reshape(shape)

    stats = BinaryStats(keys=keys, weight=dense(_W),
                        rows=dense("__n").round().astype(np.int64), weight_sq=dense("__w2"))
    if binning is None:
        return stats
    bin_max, bin_exact = _bin_values(table, bin_, n_b)
    return replace(stats, score_sum=dense("__ws"), score_sq=dense("__ws2"), bin_max=bin_max,
                   bin_exact=bin_exact, edges=binning.edges, calib=binning.calib,
                   probability=binning.probability)


def _bin_values(table: pl.DataFrame, bin_: np.ndarray, n_b: int) -> tuple[np.ndarray, np.ndarray]:
    """Largest score of each bin and whether the bin holds a single distinct score."""
    top = table.get_column("__smax").to_numpy()
    w = table.get_column(_W if _W in table.columns else "__n").to_numpy().astype(float)
    ws = table.get_column("__ws").to_numpy()
    tied = np.abs(w * top - ws) <= 1e-9 * np.abs(w * top) + 1e-300
    high = np.full(n_b, -np.inf)
    np.maximum.at(high, bin_, top)
    # a bin is exact when every cell in it is tied and at the bin's largest score
    agree = tied & (top == high[bin_])
    exact = np.bincount(bin_, weights=~agree, minlength=n_b) == 0
    high[np.isinf(high)] = np.nan
    return high, exact


def aggregate_regression(
    frame: nw.DataFrame | nw.LazyFrame,
    *,
    sensitive: Sequence[str],
    y_true: str,
    y_pred: str,
    weight: str | None,
    dropna: bool = True,
) -> RegressionStats:
    """Aggregate a regression task into :class:`RegressionStats` in one ``group_by`` pass."""
    checked = checked_columns(sensitive, dropna, y_true=y_true, y_pred=y_pred, weight=weight)
    _validation_pass(frame, checked=checked, score=None, weight=weight)
    w = nw.col(weight).cast(nw.Float64) if weight is not None else nw.lit(1.0)
    y = nw.col(y_true).cast(nw.Float64)
    p = nw.col(y_pred).cast(nw.Float64)
    r = p - y
    parts = {
        "w": w,
        "w2": w * w,
        "y": w * y,
        "y2": w * y * y,
        "p": w * p,
        "p2": w * p * p,
        "r": w * r,
        "r2": w * r * r,
        "r4": w * r * r * r * r,
        "abs_r": w * r.abs(),
    }
    cols = [expr.alias(f"__{name}") for name, expr in parts.items()]
    aggs = [nw.len().alias("__n"), *(nw.col(f"__{name}").sum() for name in parts)]
    grouped = _lazy(frame).with_columns(*cols).group_by(*sensitive, drop_null_keys=False)
    table = _collect(grouped.agg(*aggs))
    keys, codes = group_codes(table, sensitive)
    sums = {}
    for name in ["n", *parts]:
        out = np.zeros(len(keys), dtype=np.int64 if name == "n" else float)
        np.add.at(out, codes, table.get_column(f"__{name}").to_numpy())
        sums[name] = out
    return RegressionStats(keys=keys, sums=sums)
