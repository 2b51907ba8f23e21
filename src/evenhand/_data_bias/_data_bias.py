"""Pre-training (data) bias metrics as Amazon SageMaker Clarify defines them.

Everything is derived from one ``group_by`` that the input's own engine runs: row counts per
(sensitive group, stratum, label value). The metrics are then small numpy sums over that
count table, so a billion-row table costs one aggregation and no row ever reaches Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import polars as pl

from evenhand._core._errors import EvenhandError
from evenhand._core._frame import (
    as_column_list,
    check_column_arguments,
    from_any,
    group_codes,
    output_like,
    require_columns,
)

__all__ = ["METRICS", "data_bias"]

#: Metric codes in output order (Clarify's codes; ``DDL`` is its unconditioned DD).
METRICS = ("CI", "DPL", "KL", "JS", "LP", "TVD", "KS", "DDL", "CDDL")

_N = "__evenhand_n"
#: More distinct label values than this means a continuous label, which must be binned.
MAX_LABELS = 1000


def data_bias(
    data: Any,
    *,
    y_true: str,
    sensitive: str | Sequence[str],
    facet: Any = None,
    strata: str | Sequence[str] | None = None,
    positive_label: Any = 1,
    dropna: bool = True,
) -> Any:
    r"""Measure bias in the labels of a dataset before any model is trained.

    Each metric compares a *facet* ``d`` (the group whose possible disadvantage is
    examined) with facet ``a`` (every other row), following Amazon SageMaker Clarify's
    pre-training bias metrics: the same codes, the same direction (``a`` minus ``d``), the
    natural logarithm, and label distributions over **all** label values.

    Notation: :math:`n_a, n_d` rows in each facet; :math:`n_a^{(1)}, n_d^{(1)}` rows with
    a positive label; :math:`q_a = n_a^{(1)}/n_a`, :math:`q_d = n_d^{(1)}/n_d`;
    :math:`P_a(y), P_d(y)` the share of each label value ``y`` within each facet, over the
    label values seen anywhere in the data.

    ========  ==============================================================  ============
    metric    definition                                                      range
    ========  ==============================================================  ============
    ``CI``    class imbalance :math:`(n_a - n_d) / (n_a + n_d)`               [-1, 1]
    ``DPL``   difference in proportions of labels :math:`q_a - q_d`           [-1, 1]
    ``KL``    :math:`\sum_y P_a(y) \ln(P_a(y) / P_d(y))`                      [0, ∞]
    ``JS``    :math:`\tfrac12[KL(P_a\|M) + KL(P_d\|M)]`, :math:`M=(P_a+P_d)/2`  [0, ln 2]
    ``LP``    :math:`(\sum_y |P_a(y) - P_d(y)|^2)^{1/2}` (p = 2)             [0, √2]
    ``TVD``   :math:`\tfrac12 \sum_y |P_a(y) - P_d(y)|`                       [0, 1]
    ``KS``    :math:`\max_y |P_a(y) - P_d(y)|`                                [0, 1]
    ``DDL``   demographic disparity :math:`n_d^{(0)}/n^{(0)} - n_d^{(1)}/n^{(1)}`  [-1, 1]
    ``CDDL``  :math:`\sum_i n_i\,DD_i / \sum_i n_i` over strata ``i``            [-1, 1]
    ========  ==============================================================  ============

    Here :math:`n^{(1)}` and :math:`n^{(0)}` count the positive and the other rows of the
    whole data; :math:`DD_i = n_{d,i}^{(0)}/n_i^{(0)} - n_{d,i}^{(1)}/n_i^{(1)}` is the same
    disparity within stratum ``i`` and :math:`n_i` its row count. Positive ``CI``, ``DPL``
    and ``DDL`` mean facet ``d`` is smaller, has fewer positive labels, or holds a larger
    share of the non-positive labels than of the positive ones. ``positive_label`` only
    needs to name the label value counted by ``q``; it need not be the favourable one
    (in COMPAS, ``two_year_recid = 1`` is the adverse outcome, so a negative ``DPL`` for
    African-American defendants means more recorded recidivism in that facet).

    Parameters
    ----------
    data : DataFrame
        pandas, polars (eager or lazy), pyarrow, DuckDB, Spark or a dict of arrays. Not
        modified; the count table is computed by its own engine.
    y_true : str
        Label column. Its values are treated as categories (bin continuous labels first).
    sensitive : str or sequence of str
        Column(s) defining the groups. With several, groups are their intersections, and
        each column alone is reported as well (column ``by`` says which).
    facet : scalar, tuple or dict, optional
        The value of facet ``d``. ``None`` (default) reports every group against the rest of
        the data. With several sensitive columns pass a dict ``{column: value}`` (a subset
        of the columns selects that marginal group) or a tuple with one value per column.
    strata : str or sequence of str, optional
        Column(s) whose value combinations define the strata of ``CDDL``. Without it
        ``CDDL`` is not reported.
    positive_label : scalar or sequence, default 1
        The label value (or values) counted as positive by ``DPL``, ``DDL`` and ``CDDL``.
    dropna : bool, default True
        Missing sensitive values raise an error; with ``dropna=False`` they form their own
        group.

    Returns
    -------
    DataFrame
        Long form, in the caller's library (pandas in, pandas out; otherwise polars): the
        sensitive columns (``null`` where a row's group does not constrain that column),
        ``metric``, ``value``, ``n_d``, ``n_a``, ``positive_d``, ``positive_a`` (row counts
        and positive counts of the two facets), ``flag`` and ``by``.

    Raises
    ------
    EvenhandError
        For a missing column, a column given in two roles, missing labels or strata,
        missing sensitive values (unless ``dropna=False``), empty data, more than 1,000
        distinct labels (a continuous label), a ``positive_label`` that never occurs, or a
        ``facet`` value absent from the data.

    Notes
    -----
    **Zero division.** A value that divides by zero is ``nan`` with ``flag`` =
    ``"zero_division"``: every label-distribution metric when facet ``a`` is empty (only one
    group), ``DDL`` when the data has no positive or no other label. ``KL`` is ``inf`` with
    ``flag = "infinite"`` when a label value occurs in facet ``a`` but never in ``d``.

    **Where evenhand departs from Clarify's implementation (smclarify).**

    - ``KL``, ``JS``, ``LP``, ``TVD`` and ``KS``: smclarify silently drops the label values
      missing from either facet before summing. evenhand keeps them (probability 0), so these
      are the true divergences; ``KL`` is then ``inf`` as above. When every label value
      occurs in both facets the two agree exactly.
    - ``CDDL``: smclarify counts an undefined proportion (a stratum with no positive, or no
      other, label) as 0 and keeps the stratum's weight. evenhand leaves such strata out of
      both sums and flags ``"undefined_strata"``; it is ``nan`` if no stratum is defined.
    - smclarify raises for an empty facet; evenhand returns ``nan`` with a flag.
    - ``KS`` follows Clarify's definition (largest gap between the two label *probability*
      vectors). For binary labels this equals the classical two-sample Kolmogorov–Smirnov
      statistic; for ordered multi-class labels the classical statistic compares
      cumulative distributions instead.
    - Clarify's documentation illustrates ``LP`` and ``TVD`` with label *counts*; its
      formula and implementation, and evenhand, use proportions.

    Examples
    --------
    >>> import polars as pl
    >>> import evenhand
    >>> df = pl.DataFrame({
    ...     "group": ["x", "x", "x", "x", "y", "y"],
    ...     "label": [1, 1, 1, 0, 1, 0],
    ... })
    >>> out = evenhand.data_bias(df, y_true="label", sensitive="group", facet="y")
    >>> out.select("metric", "value").filter(pl.col("metric").is_in(["CI", "DPL"]))
    shape: (2, 2)
    ┌────────┬──────────┐
    │ metric ┆ value    │
    │ ---    ┆ ---      │
    │ str    ┆ f64      │
    ╞════════╪══════════╡
    │ CI     ┆ 0.333333 │
    │ DPL    ┆ 0.25     │
    └────────┴──────────┘
    """
    check_column_arguments(
        "data_bias", {"y_true": y_true}, {"sensitive": sensitive, "strata": strata}
    )
    frame = from_any(data)
    sens = as_column_list(sensitive, "sensitive")
    strata_cols = as_column_list(strata, "strata")
    _check_roles(y_true, sens, strata_cols)
    require_columns(frame, {"y_true": [y_true], "sensitive": sens, "strata": strata_cols})
    facet_map = _facet_map(facet, sens)

    table = _aggregate(frame, [*sens, *strata_cols, y_true])
    _check_table(table, y_true, sens, strata_cols, dropna)
    _check_label_count(table, y_true)
    counts = _count_tensor(table, sens, strata_cols, y_true)
    positive = _positive_mask(counts.labels, positive_label, y_true, table.schema[y_true])

    if facet_map is None:
        specs = [tuple(sens)] if len(sens) == 1 else [tuple(sens), *((c,) for c in sens)]
    else:
        specs = [tuple(c for c in sens if c in facet_map)]
    total = counts.counts.sum(axis=0)
    frames = []
    for attrs in specs:
        keys, folded = _fold(counts, attrs)
        rows = np.arange(len(keys))
        if facet_map is not None:
            rows = np.array([_facet_row(keys, attrs, facet_map)])
        result = _metrics(folded[rows], total, positive, with_cdd=bool(strata_cols))
        frames.append(_long_frame(keys[rows.tolist()], attrs, result))
    # a column no grouping constrains (a marginal facet) is null, typed like the data
    unconstrained = [c for c in sens if all(c not in attrs for attrs in specs)]
    out = pl.concat(frames, how="diagonal_relaxed").with_columns(
        pl.lit(None, dtype=counts.keys.schema[c]).alias(c) for c in unconstrained
    )
    return output_like(out.select(*sens, pl.exclude(sens)), data)


@dataclass(frozen=True)
class _Counts:
    """Row counts ``counts[group, stratum, label]`` with the keys of each axis."""

    keys: pl.DataFrame
    labels: pl.Series
    counts: np.ndarray


@dataclass(frozen=True)
class _Result:
    names: list[str]
    value: np.ndarray  # [metric, group]
    flag: np.ndarray  # [metric, group], str
    n_d: np.ndarray
    n_a: np.ndarray
    pos_d: np.ndarray
    pos_a: np.ndarray


def _check_roles(y_true: str, sens: list[str], strata: list[str]) -> None:
    if not isinstance(y_true, str):
        raise EvenhandError(f"The 'y_true' argument must be a column name; got {y_true!r}.")
    if y_true in sens or y_true in strata:
        raise EvenhandError(
            f"Column {y_true!r} is given as y_true and as sensitive/strata; a label cannot "
            "define the groups. Pass different columns."
        )
    both = sorted(set(sens) & set(strata))
    if both:
        raise EvenhandError(
            f"Columns {both!r} are given as both sensitive and strata. A stratum must be a "
            "different attribute (e.g. department), so pass different columns."
        )


def _facet_map(facet: Any, sens: list[str]) -> dict[str, Any] | None:
    """Normalise ``facet`` to ``{column: value}``."""
    if facet is None:
        return None
    if isinstance(facet, Mapping):
        unknown = [k for k in facet if k not in sens]
        if unknown or not facet:
            raise EvenhandError(
                f"The 'facet' dict must map sensitive columns {sens!r} to values; got "
                f"{dict(facet)!r}."
            )
        return dict(facet)
    if len(sens) == 1:
        return {sens[0]: facet}
    if isinstance(facet, tuple) and len(facet) == len(sens):
        return dict(zip(sens, facet, strict=True))
    raise EvenhandError(
        f"With several sensitive columns {sens!r}, pass 'facet' as a dict {{column: value}} "
        f"or a tuple of {len(sens)} values; got {facet!r}."
    )


def _aggregate(frame: nw.DataFrame | nw.LazyFrame, keys: list[str]) -> pl.DataFrame:
    """Count rows per key combination in one pass run by the input's own engine."""
    grouped = frame.group_by(*keys).agg(nw.len().alias(_N))
    if isinstance(grouped, nw.LazyFrame):
        table = grouped.collect(backend="polars").to_native()
    else:
        table = grouped.to_polars()
    return table.with_columns(pl.col(_N).cast(pl.Int64))


def _missing(table: pl.DataFrame, col: str) -> int:
    expr = pl.col(col).is_null()
    if table.schema[col].is_float():
        expr = expr | pl.col(col).is_nan()
    return int(table.filter(expr).get_column(_N).sum())


def _check_table(
    table: pl.DataFrame, y_true: str, sens: list[str], strata: list[str], dropna: bool
) -> None:
    total = int(table.get_column(_N).sum())
    if total == 0:
        raise EvenhandError("The data has no rows. Pass a non-empty table.")
    roles = [(y_true, "y_true"), *((c, "strata") for c in strata)]
    if dropna:
        roles += [(c, "sensitive") for c in sens]
    for col, role in roles:
        count = _missing(table, col)
        if not count:
            continue
        fix = (
            "Fill or drop them first, or pass dropna=False to keep them as their own group."
            if role == "sensitive"
            else "Drop or impute those rows first."
        )
        raise EvenhandError(
            f"Column {col!r} (given as {role}) has {count} missing (null or NaN) values out "
            f"of {total}. {fix}"
        )


def _check_label_count(table: pl.DataFrame, y_true: str) -> None:
    n_labels = table.get_column(y_true).n_unique()
    if n_labels > MAX_LABELS:
        raise EvenhandError(
            f"Column {y_true!r} (given as y_true) has {n_labels} distinct values; data_bias "
            f"treats labels as categories (at most {MAX_LABELS}). Bin a continuous label "
            "first, or pass a binary column such as (y >= threshold)."
        )


def _count_tensor(table: pl.DataFrame, sens: list[str], strata: list[str], y: str) -> _Counts:
    keys, g = group_codes(table, sens)
    strata_keys, s = group_codes(table, strata)
    labels, lab = group_codes(table, [y])
    shape = (len(keys), max(len(strata_keys), 1), len(labels))
    counts = np.zeros(shape, dtype=np.int64)
    np.add.at(counts, (g, s, lab), table.get_column(_N).to_numpy())
    return _Counts(keys=keys, labels=labels.get_column(y), counts=counts)


def _positive_mask(labels: pl.Series, positive_label: Any, y: str, dtype: Any) -> np.ndarray:
    wanted = (
        list(positive_label)
        if isinstance(positive_label, list | tuple | set | frozenset)
        else [positive_label]
    )
    values = labels.to_list()
    mask = np.array([any(v == w for w in wanted) for v in values], dtype=bool)
    if mask.any():
        return mask
    zero_one = dtype == pl.Boolean or (dtype.is_numeric() and set(values) <= {0, 1})
    if zero_one and all(w in (1, True) for w in wanted):
        return mask  # a 0/1 label with no positive row: q is 0, not an error
    shown = values[:10] + (["..."] if len(values) > 10 else [])
    kind = "binary" if len(values) <= 2 else f"non-binary ({len(values)} distinct values)"
    raise EvenhandError(
        f"positive_label={positive_label!r} never occurs in column {y!r} (given as y_true); "
        f"its labels are {kind}: {shown!r}. Pass positive_label=<the label value to count "
        "as positive>, e.g. one of those values."
    )


def _fold(counts: _Counts, attrs: tuple[str, ...]) -> tuple[pl.DataFrame, np.ndarray]:
    """Sum the intersection groups into the groups of ``attrs`` (a subset of columns)."""
    if list(attrs) == counts.keys.columns:
        return counts.keys, counts.counts
    keys, codes = group_codes(counts.keys, list(attrs))
    folded = np.zeros((len(keys), *counts.counts.shape[1:]), dtype=np.int64)
    np.add.at(folded, codes, counts.counts)
    return keys, folded


def _facet_row(keys: pl.DataFrame, attrs: tuple[str, ...], facet: dict[str, Any]) -> int:
    target = tuple(facet[a] for a in attrs)
    for i, row in enumerate(keys.iter_rows()):
        if row == target:
            return i
    present = [r[0] if len(r) == 1 else r for r in keys.iter_rows()][:20]
    hint = ""
    as_text = [r for r in keys.iter_rows() if tuple(map(str, r)) == tuple(map(str, target))]
    if as_text:
        hint = f" Did you mean {as_text[0][0] if len(attrs) == 1 else as_text[0]!r}?"
    shown = target[0] if len(attrs) == 1 else target
    raise EvenhandError(
        f"facet={shown!r} is not a value of {list(attrs)!r} (given as sensitive) in the data; "
        f"its values are {present!r}.{hint} Pass one of them."
    )


def _share(counts: np.ndarray, total: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, counts / np.where(total > 0, total, 1), np.nan)


def _xlogy_ratio(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Σ p·ln(p/q) per row with 0·ln(0/q) = 0 and p·ln(p/0) = inf for p > 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / q), 0.0)
    return np.where(np.isnan(p).any(axis=-1), np.nan, terms.sum(axis=-1))


def _metrics(d: np.ndarray, total: np.ndarray, positive: np.ndarray, with_cdd: bool) -> _Result:
    """Every metric for facets ``d[k]`` (``[k, stratum, label]``) against the rest."""
    a = total[None] - d
    lab_d, lab_a = d.sum(axis=1), a.sum(axis=1)  # [k, label]
    n_d, n_a = lab_d.sum(axis=1), lab_a.sum(axis=1)
    pos_d, pos_a = lab_d[:, positive].sum(axis=1), lab_a[:, positive].sum(axis=1)
    p_d, p_a = _share(lab_d, n_d[:, None]), _share(lab_a, n_a[:, None])
    gap = np.abs(p_a - p_d)
    mid = (p_a + p_d) / 2
    values = {
        "CI": (n_a - n_d) / (n_a + n_d),
        "DPL": _share(pos_a, n_a) - _share(pos_d, n_d),
        "KL": _xlogy_ratio(p_a, p_d),
        "JS": 0.5 * (_xlogy_ratio(p_a, mid) + _xlogy_ratio(p_d, mid)),
        "LP": np.sqrt((gap**2).sum(axis=1)),
        "TVD": 0.5 * gap.sum(axis=1),
        "KS": gap.max(axis=1),
        "DDL": _demographic_disparity(lab_d, lab_a, positive),
    }
    flags = {name: np.where(np.isnan(v), "zero_division", "") for name, v in values.items()}
    flags["KL"] = np.where(np.isinf(values["KL"]), "infinite", flags["KL"])
    if with_cdd:
        values["CDDL"], flags["CDDL"] = _conditional_dd(d, a, positive)
    names = list(values)
    return _Result(
        names=names,
        value=np.array([values[n] for n in names], dtype=float),
        flag=np.array([flags[n] for n in names], dtype=object),
        n_d=n_d, n_a=n_a, pos_d=pos_d, pos_a=pos_a,
    )


def _demographic_disparity(d: np.ndarray, a: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """``n_d(0)/n(0) − n_d(1)/n(1)`` along the last (label) axis."""
    d1, d0 = d[..., positive].sum(axis=-1), d[..., ~positive].sum(axis=-1)
    n1 = d1 + a[..., positive].sum(axis=-1)
    n0 = d0 + a[..., ~positive].sum(axis=-1)
    return _share(d0, n0) - _share(d1, n1)


def _conditional_dd(
    d: np.ndarray, a: np.ndarray, positive: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Row-weighted mean of per-stratum DD over the strata where DD is defined."""
    dd = _demographic_disparity(d, a, positive)  # [k, stratum]
    n_i = (d + a).sum(axis=-1)
    defined = ~np.isnan(dd)
    weight = np.where(defined, n_i, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cdd = np.where(defined, dd * weight, 0.0).sum(axis=1) / weight.sum(axis=1)
    flag = np.where(
        weight.sum(axis=1) == 0,
        "zero_division",
        np.where(defined.all(axis=1), "", "undefined_strata"),
    )
    return np.where(weight.sum(axis=1) > 0, cdd, np.nan), flag


def _long_frame(keys: pl.DataFrame, attrs: tuple[str, ...], r: _Result) -> pl.DataFrame:
    n_groups, n_metrics = len(keys), len(r.names)
    rows = np.repeat(np.arange(n_groups), n_metrics)  # group-major: metrics of a group together

    def per_row(values: np.ndarray) -> np.ndarray:
        return values[rows]

    return keys[rows.tolist()].with_columns(
        pl.Series("metric", r.names * n_groups),
        pl.Series("value", r.value.T.reshape(-1), dtype=pl.Float64),
        pl.Series("n_d", per_row(r.n_d), dtype=pl.Int64),
        pl.Series("n_a", per_row(r.n_a), dtype=pl.Int64),
        pl.Series("positive_d", per_row(r.pos_d), dtype=pl.Int64),
        pl.Series("positive_a", per_row(r.pos_a), dtype=pl.Int64),
        pl.Series("flag", r.flag.T.reshape(-1).astype(str), dtype=pl.String),
        pl.lit(" & ".join(attrs)).alias("by"),
    )
