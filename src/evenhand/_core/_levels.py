"""Per-level metric estimates with intervals, derived from the aggregated statistics.

A *level* is one way of grouping: the intersections of all sensitive columns, each column
alone, or the overall population. Every level is folded from the one aggregated table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import stats as sps

from evenhand._core._bootstrap import draw_replicates
from evenhand._core._frame import group_codes
from evenhand._core._metrics import BINARY_METRICS, REGRESSION_METRICS, Metric, Table, onehot_matrix
from evenhand._core._stats import BinaryStats, RegressionStats
from evenhand._core._uncertainty import normal_quantile, wilson

__all__ = ["Level", "binary_levels", "finish_level", "level_specs", "rate_counts",
           "regression_levels"]

OVERALL = "overall"


@dataclass
class Level:
    """Estimates for one grouping.

    ``value``, ``low``, ``high``, ``num``, ``den`` and ``flags`` are ``[metric, group]``;
    ``boot`` is ``[replicate, metric, group]`` (recentred replicates) or ``None``; ``num`` and
    ``den`` hold the effective counts of rate metrics (``nan`` for other metrics).
    """

    by: str
    attrs: tuple[str, ...]
    keys: pl.DataFrame
    count: np.ndarray
    names: list[str]
    value: np.ndarray
    low: np.ndarray
    high: np.ndarray
    methods: list[str]
    flags: np.ndarray
    num: np.ndarray
    den: np.ndarray
    higher_is_better: list[bool | None]
    boot: np.ndarray | None = None

    def labels(self) -> list[str]:
        """Readable group labels, e.g. ``"African-American & Male"``."""
        if "_labels" not in self.__dict__:  # built once: tables and the summary ask often
            self.__dict__["_labels"] = [OVERALL] if not self.attrs else [
                " & ".join(str(v) for v in row) for row in self.keys.iter_rows()]
        return list(self.__dict__["_labels"])

    def index(self, name: str) -> int:
        """Row of metric ``name``."""
        return self.names.index(name)

    def subset(self, keep: np.ndarray) -> Level:
        """Return the same grouping restricted to the groups where ``keep`` is true."""
        def cut(a: np.ndarray) -> np.ndarray:
            return a[..., keep]

        return Level(
            by=self.by, attrs=self.attrs, keys=self.keys.filter(pl.Series(keep)),
            count=self.count[keep], names=self.names, value=cut(self.value), low=cut(self.low),
            high=cut(self.high), methods=self.methods, flags=cut(self.flags), num=cut(self.num),
            den=cut(self.den), higher_is_better=self.higher_is_better,
            boot=None if self.boot is None else cut(self.boot),
        )


def level_specs(sensitive: Sequence[str], intersect: bool) -> list[tuple[str, ...]]:
    """List the groupings to report: the intersection (if asked), then each column alone."""
    if len(sensitive) == 1:
        return [tuple(sensitive)]
    specs = [tuple(sensitive)] if intersect else []
    return specs + [(c,) for c in sensitive]


def _percentile(boot: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval along axis 0, ignoring non-finite replicates.

    Interpolates linearly, as ``numpy.quantile``; ``nan`` where no replicate is finite.
    """
    alpha = 1 - level
    qs = (alpha / 2, 1 - alpha / 2)
    finite = np.isfinite(boot)
    complete = finite.all(axis=0)
    low, high = np.full(boot.shape[1:], np.nan), np.full(boot.shape[1:], np.nan)
    if complete.any():  # every replicate finite: fixed order statistics of one sort
        n = boot.shape[0]
        ordered = np.sort(boot if complete.all() else boot[:, complete], axis=0)
        for out, q in zip((low, high), qs, strict=True):
            pos = q * (n - 1)
            lo = int(np.floor(pos))
            a, b = ordered[lo], ordered[min(lo + 1, n - 1)]
            out[complete] = (a + (b - a) * (pos - lo)).ravel()
    if not complete.all():
        rest = ~complete
        data = np.where(finite[:, rest], boot[:, rest], np.nan)
        ordered = np.sort(data, axis=0)  # nan sorts last
        k = np.isfinite(ordered).sum(axis=0)
        for out, q in zip((low, high), qs, strict=True):
            pos = q * np.maximum(k - 1, 0)
            lo = np.floor(pos).astype(np.int64)
            hi = np.minimum(lo + 1, np.maximum(k - 1, 0))
            a = np.take_along_axis(ordered, lo[None], axis=0)[0]
            b = np.take_along_axis(ordered, hi[None], axis=0)[0]
            out[rest] = np.where(k > 0, a + (b - a) * (pos - lo), np.nan)
    return low, high


def rate_counts(
    metric: Metric, cells: np.ndarray, cells_sq: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Effective numerator and denominator (Kish) of a rate metric, per group."""
    assert metric.rate is not None, f"{metric.name} is not a rate metric"
    num_cells, den_cells = metric.rate
    x = sum(cells[..., y, p] for y, p in num_cells)
    n = sum(cells[..., y, p] for y, p in den_cells)
    n_sq = sum(cells_sq[..., y, p] for y, p in den_cells)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_eff = np.where(n_sq > 0, n * n / n_sq, 0.0)
        x_eff = np.where(n > 0, x / n * n_eff, 0.0)
    return x_eff, n_eff


def binary_levels(
    stats: BinaryStats,
    *,
    names: Sequence[str],
    specs: Sequence[tuple[str, ...]],
    ci: float,
    ci_method: str,
    n_boot: int,
    rng: np.random.Generator,
    min_group_size: int,
    favorable: str,
) -> tuple[list[Level], Level]:
    """Estimates for each grouping in ``specs`` and for the overall population.

    Every grouping is a sum of the finest groups, so all of them are stacked into one table
    (``onehot @ groups``) and each metric is computed once, for every group of every
    grouping and every bootstrap replicate together.
    """
    blocks = [(attrs, *group_codes(stats.keys, attrs)) for attrs in [*specs, ()]]
    onehot = np.vstack([onehot_matrix(codes, max(len(keys), 1)) for _, keys, codes in blocks])
    pool = np.zeros(onehot.shape[0], dtype=bool)
    pool[-1] = True  # the overall row: calibration_gap's pooled population
    metrics = [BINARY_METRICS[n] for n in names]
    fine = _fine_table(stats).fold(onehot, pool)
    value = np.array([m.compute(fine) for m in metrics])
    boot = None
    if n_boot > 0:
        merged, reps = draw_replicates(stats, n_boot, rng)
        boot = _recentred(metrics, value, merged.fold(onehot, pool), reps.fold(onehot, pool))
    bounds = None if boot is None else _percentile(boot, ci)
    num, den = _rate_counts_all(metrics, fine.cells, stats, onehot)
    count = onehot @ stats.rows.sum(axis=(1, 2, 3))
    out, start = [], 0
    for attrs, keys, _ in blocks:
        cut = slice(start, start + max(len(keys), 1))
        start = cut.stop
        out.append(finish_level(
            attrs, keys, count[cut], list(names), value[:, cut],
            None if boot is None else boot[..., cut], num[:, cut], den[:, cut],
            ci=ci, ci_method=ci_method, min_group_size=min_group_size,
            higher_is_better=[_direction(m, favorable) for m in metrics],
            probability=fine.probability, binned=not stats.exact_bins,
            percentiles=None if bounds is None else (bounds[0][:, cut], bounds[1][:, cut]),
        ))
    return out[:-1], out[-1]


def _recentred(metrics: list[Metric], value: np.ndarray, merged: Table,
               reps: Table) -> np.ndarray:
    """Replicates ``[replicate, metric, group]`` as ``m̂ + (m* − m̃)`` (see ``_bootstrap``)."""
    shift = np.array([m.compute(reps) - m.compute(merged) for m in metrics])
    return value[None] + np.moveaxis(shift, 0, 1)


def _rate_counts_all(metrics: list[Metric], cells: np.ndarray, stats: BinaryStats,
                     onehot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Effective numerators and denominators ``[metric, group]`` (``nan`` for non-rates)."""
    squares = stats.weight_sq.sum(axis=-1).reshape(onehot.shape[1], 4)
    cells_sq = (onehot @ squares).reshape(-1, 2, 2)
    num = np.full((len(metrics), cells.shape[0]), np.nan)
    den = num.copy()
    for i, m in enumerate(metrics):
        if m.rate is not None:
            num[i], den[i] = rate_counts(m, cells, cells_sq)
    return num, den


def _fine_table(stats: BinaryStats) -> Table:
    """Full-resolution table of the finest groups, empty histogram bins dropped."""
    if not stats.has_score:
        return Table(stats.weight.sum(axis=-1))
    score_sum, score_sq, calib = stats.score_arrays
    filled = stats.rows.sum(axis=(0, 1, 2)) > 0
    return Table.from_joint(
        stats.weight[..., filled], score_sum[..., filled], score_sq[..., filled],
        calib=calib[filled], probability=stats.probability,
    )


def _direction(metric: Metric, favorable: str) -> bool | None:
    if metric.name in ("selection_rate", "base_rate"):
        return favorable == "positive"
    return metric.higher_is_better


def finish_level(
    attrs: tuple[str, ...],
    keys: pl.DataFrame,
    count: np.ndarray,
    names: list[str],
    value: np.ndarray,
    boot: np.ndarray | None,
    num: np.ndarray,
    den: np.ndarray,
    *,
    ci: float,
    ci_method: str,
    min_group_size: int,
    higher_is_better: list[bool | None],
    probability: bool = True,
    binned: bool = False,
    boot_method: str = "bootstrap",
    percentiles: tuple[np.ndarray, np.ndarray] | None = None,
) -> Level:
    """Attach intervals and flags to point estimates and replicates.

    Rows with finite ``num``/``den`` are rates: Wilson intervals under ``ci_method="wilson"``;
    every other row gets bootstrap percentiles, labelled ``boot_method`` (or none without
    replicates); ``percentiles`` passes those percentiles when they were computed already.
    """
    if percentiles is not None:  # already computed for a stack of levels
        low, high = (a.copy() for a in percentiles)
    elif boot is not None:
        low, high = _percentile(boot, ci)
    else:  # two distinct arrays: the rows are filled in separately below
        low, high = np.full_like(value, np.nan), np.full_like(value, np.nan)
    z = normal_quantile(ci)
    methods = []
    for i in range(len(names)):
        if ci_method == "wilson" and np.isfinite(den[i]).all():
            low[i], high[i] = wilson(num[i], den[i], z)
            methods.append("wilson")
        else:
            methods.append(boot_method if boot is not None else "none")
    return Level(
        by=" & ".join(attrs) if attrs else OVERALL, attrs=attrs, keys=keys, count=count,
        names=names, value=value, low=low, high=high, methods=methods,
        flags=_flags(value, count, min_group_size, names, probability, binned), num=num,
        den=den,
        higher_is_better=higher_is_better, boot=boot,
    )


def _flags(value, count, min_group_size, names, probability=True, binned=False) -> np.ndarray:
    """Return the flags of each metric and group.

    ``small_group``, ``zero_division``, ``score_not_probability`` (ECE of scores outside
    [0, 1]) and ``binned`` (AUC from a histogram whose bins hold several distinct scores:
    within 1e-3 of the exact value in our tests, not exact).
    """
    flags = np.full(value.shape, "", dtype=object)
    small = count < min_group_size
    for i, name in enumerate(names):
        parts = np.where(small, "small_group", "")
        reason = "score_not_probability" if name == "ece" and not probability else "zero_division"
        always = "binned" if binned and name == "auc" else ""
        nan = np.isnan(value[i])
        flags[i] = [
            ";".join(p for p in (s, reason if n else "", always) if p)
            for s, n in zip(parts, nan, strict=True)
        ]
    return flags


def regression_levels(
    stats: RegressionStats,
    *,
    names: Sequence[str],
    specs: Sequence[tuple[str, ...]],
    ci: float,
    min_group_size: int,
) -> tuple[list[Level], Level]:
    """Estimates with normal (t) intervals for each grouping and for the overall population."""
    metrics = [REGRESSION_METRICS[n] for n in names]
    out = []
    for attrs in [*specs, ()]:
        keys, codes = group_codes(stats.keys, attrs)
        folded = stats.regroup(keys if attrs else pl.DataFrame({"_": [0]}), codes)
        s = folded.sums
        value = np.array([m.compute(s) for m in metrics])
        low, high = _regression_intervals(metrics, s, value, ci)
        nan = np.full_like(value, np.nan)
        out.append(Level(
            by=" & ".join(attrs) if attrs else OVERALL, attrs=attrs, keys=keys, count=s["n"],
            names=list(names), value=value, low=low, high=high,
            methods=["t" if np.isfinite(low[i]).any() else "none" for i in range(len(metrics))],
            flags=_flags(value, s["n"], min_group_size, list(names)), num=nan, den=nan.copy(),
            higher_is_better=[m.higher_is_better for m in metrics],
        ))
    return out[:-1], out[-1]


def _regression_intervals(metrics, s, value, ci) -> tuple[np.ndarray, np.ndarray]:
    low = np.full_like(value, np.nan)
    high = np.full_like(value, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_eff = np.where(s["w2"] > 0, s["w"] ** 2 / s["w2"], 0.0)
        tq = sps.t.ppf(0.5 + ci / 2, np.maximum(n_eff - 1, 1))
        for i, m in enumerate(metrics):
            moments = m.moments or (("r2", "r4") if m.name == "rmse" else None)
            if moments is None:
                continue
            mean = s[moments[0]] / s["w"]
            var = np.clip(s[moments[1]] / s["w"] - mean**2, 0, None)
            se = np.sqrt(var / n_eff)
            if m.name == "rmse":  # delta method from the MSE
                se = se / (2 * value[i])
            ok = n_eff > 1
            low[i] = np.where(ok, value[i] - tq * se, np.nan)
            high[i] = np.where(ok, value[i] + tq * se, np.nan)
    return low, high

