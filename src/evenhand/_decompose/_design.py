"""Input validation and the design matrix shared by every decomposition method.

Rows with a missing value in any used column are dropped (listwise deletion, as R's ``lm``
and Stata's ``oaxaca`` do); the count is reported on the result. Numeric and boolean columns
enter as one regressor each; string, categorical and enum columns are expanded into dummy
variables with the first level (in sorted order) omitted, and later normalised (Yun 2005).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import polars as pl

from evenhand._core._errors import EvenhandError, did_you_mean
from evenhand._core._frame import from_any

__all__ = ["INTERCEPT", "Categorical", "Design", "build_design"]

INTERCEPT = "(intercept)"


@dataclass(frozen=True)
class Categorical:
    """A categorical column: its levels, and the design columns of its non-baseline levels."""

    column: str
    factor: str
    levels: tuple[Any, ...]  # levels[0] is the omitted baseline
    index: tuple[int, ...]  # design-matrix columns of levels[1:]


@dataclass
class Design:
    """The numeric problem: design matrix with intercept first, outcome, weights, group flag.

    ``columns[j]``, ``levels[j]`` and ``factors[j]`` describe design column ``j``.
    ``units`` lists, per input column, the design columns it owns (a categorical owns
    several); Fairlie switches whole units.
    """

    z: np.ndarray
    y: np.ndarray
    w: np.ndarray | None
    in_b: np.ndarray
    groups: tuple[Any, Any]
    columns: list[str]
    levels: list[Any]
    factors: list[str]
    categoricals: list[Categorical]
    units: list[tuple[str, str, tuple[int, ...]]]
    factor_names: list[str]
    n_dropped: int = 0
    group_sizes: tuple[int, int] = field(default=(0, 0))

    def slices(self) -> tuple[slice, slice]:
        """Rows of A and of B (rows are ordered A first)."""
        n_a = self.group_sizes[0]
        return slice(0, n_a), slice(n_a, self.y.shape[0])


def _check_factors(
    factors: Mapping[str, Sequence[str]], reserved: Mapping[str, str]
) -> dict[str, list[str]]:
    if not isinstance(factors, Mapping) or not factors:
        raise EvenhandError(
            "The 'factors' argument must be a non-empty dict mapping a factor-group name to a "
            f"list of column names, e.g. {{'biological': ['age', 'bmi']}}; got {factors!r}."
        )
    out: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for name, cols in factors.items():
        cols_list = [cols] if isinstance(cols, str) else list(cols)
        if not cols_list or not all(isinstance(c, str) for c in cols_list):
            raise EvenhandError(
                f"Factor group {name!r} must list at least one column name; got {cols!r}."
            )
        for col in cols_list:
            if col in owner:
                raise EvenhandError(
                    f"Column {col!r} is listed in factor groups {owner[col]!r} and {name!r}; "
                    "put each column in exactly one factor group."
                )
            if col in reserved:
                raise EvenhandError(
                    f"Column {col!r} in factor group {name!r} is also the {reserved[col]} "
                    "column; remove it from the factors."
                )
            owner[col] = name
        out[str(name)] = cols_list
    return out


def _collect(data: Any, columns: list[str]) -> pl.DataFrame:
    """Select ``columns`` with the input's engine and return them as one polars frame."""
    selected = from_any(data).select(*columns)
    if isinstance(selected, nw.LazyFrame):
        selected = selected.collect(backend="polars")
    return selected.to_polars()


def _drop_missing(frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Drop rows with a null (or a NaN in a float column) in any column."""
    missing = pl.any_horizontal(
        [
            pl.col(c).is_null() | pl.col(c).is_nan() if dt.is_float() else pl.col(c).is_null()
            for c, dt in frame.schema.items()
        ]
    )
    keep = frame.filter(~missing)
    return keep, frame.height - keep.height


def _is_categorical(s: pl.Series) -> bool:
    return s.dtype in (pl.String, pl.Categorical, pl.Object) or isinstance(s.dtype, pl.Enum)


def _resolve_groups(
    g: pl.Series, group: str, groups: Sequence[Any] | None, reference: Any
) -> tuple[Any, Any]:
    values = sorted(g.unique().to_list(), key=lambda v: (str(type(v)), v))
    if len(values) != 2:
        raise EvenhandError(
            f"Column {group!r} (given as group) must have exactly two distinct values to "
            f"decompose a gap between them; got {len(values)}: {values[:10]!r}. Filter the "
            "data to the two groups you want to compare."
        )
    if groups is not None:
        pair = tuple(groups)
        if len(pair) != 2 or set(pair) != set(values):
            raise EvenhandError(
                f"The 'groups' argument must list the two values of {group!r} in the order "
                f"(A, B) with gap = mean(A) - mean(B), i.e. a permutation of {values!r}; "
                f"got {groups!r}."
            )
        return pair[0], pair[1]
    if reference in values:
        other = values[1] if reference == values[0] else values[0]
        return reference, other
    return values[0], values[1]


def _encode_column(
    a: pl.Series, col: str, factor: str, in_b: np.ndarray, groups: tuple[Any, Any], start: int
) -> tuple[np.ndarray, list[Any], Categorical | None]:
    """Return the design columns of one input column, their level labels, and its categorical."""
    if a.dtype.is_numeric() or a.dtype == pl.Boolean:
        return a.cast(pl.Float64).to_numpy()[:, None], [None], None
    if not _is_categorical(a):
        raise EvenhandError(
            f"Column {col!r} (factor group {factor!r}) has dtype {a.dtype}; use numeric, "
            "boolean, string or categorical columns (convert dates to numbers first)."
        )
    text = a.cast(pl.String)
    levels = text.unique().sort().to_list()
    codes = (text.rank("dense") - 1).to_numpy()
    for code, level in enumerate(levels):
        present = [np.any(codes[~in_b] == code), np.any(codes[in_b] == code)]
        if not all(present):
            where = groups[0] if present[0] else groups[1]
            missing_in = groups[1] if present[0] else groups[0]
            raise EvenhandError(
                f"Column {col!r} (factor group {factor!r}) has level {level!r} only in group "
                f"{where!r}, so its effect cannot be estimated in group {missing_in!r}. Merge "
                "that level into a neighbouring one or drop those rows."
            )
    if len(levels) < 2:
        raise EvenhandError(
            f"Column {col!r} (factor group {factor!r}) has a single level {levels!r}; it "
            "cannot explain a gap. Remove it from the factors."
        )
    dummies = (codes[:, None] == np.arange(1, len(levels))[None, :]).astype(float)
    cat = Categorical(col, factor, tuple(levels), tuple(range(start, start + len(levels) - 1)))
    return dummies, list(levels[1:]), cat


def _check_variation(design: Design, outcome: str, group: str) -> None:
    for name, rows in zip(design.groups, design.slices(), strict=True):
        y = design.y[rows]
        if y.size and np.all(y == y[0]):
            raise EvenhandError(
                f"The outcome {outcome!r} is constant ({y[0].item()!r}) within group {name!r} of "
                f"{group!r}; a decomposition needs outcome variation within each group. "
                "Check the outcome and group columns."
            )
        z = design.z[rows]
        for j in range(1, z.shape[1]):
            if np.all(z[:, j] == z[0, j]):
                label = design.columns[j]
                if design.levels[j] is not None:
                    label = f"{label}={design.levels[j]}"
                raise EvenhandError(
                    f"Column {label!r} (factor group {design.factors[j]!r}) is constant "
                    f"({z[0, j].item()!r}) within group {name!r}, so its effect in that group "
                    "is not identified. Drop it or merge the groups' categories."
                )


def build_design(
    data: Any,
    *,
    outcome: str,
    group: str,
    factors: Mapping[str, Sequence[str]],
    weights: str | None,
    groups: Sequence[Any] | None,
    reference: Any,
) -> Design:
    """Validate the inputs and build the :class:`Design` (rows with missing values dropped)."""
    for arg, value in (("outcome", outcome), ("group", group)):
        if not isinstance(value, str):
            raise EvenhandError(f"The {arg!r} argument must be a column name; got {value!r}.")
    reserved = {outcome: "outcome", group: "group"}
    if weights is not None:
        reserved[weights] = "weights"
    fac = _check_factors(factors, reserved)
    frame = from_any(data)
    present = frame.collect_schema().names()
    for name, cols in fac.items():
        for col in cols:
            if col not in present:
                raise EvenhandError(
                    f"Column {col!r} (listed in factor group {name!r}) is not in the data; its "
                    f"columns are {present[:20]}." + did_you_mean(col, present)
                )
    used = [outcome, group, *(c for cols in fac.values() for c in cols)]
    if weights is not None:
        used.append(weights)
    arrays, n_dropped = _drop_missing(_collect(data, list(dict.fromkeys(used))))
    y = arrays[outcome]
    if not (y.dtype.is_numeric() or y.dtype == pl.Boolean):
        raise EvenhandError(
            f"The outcome column {outcome!r} must be numeric or boolean; got dtype {y.dtype} "
            f"(e.g. {y.head(1).to_list()!r})."
        )
    pair = _resolve_groups(arrays[group], group, groups, reference)
    # rows of A first (stable), so each group is a contiguous slice: views, never copies
    arrays = arrays.sort(pl.col(group) == pair[1], maintain_order=True)
    in_b = (arrays[group] == pair[1]).to_numpy()
    w = None
    if weights is not None:
        w = arrays[weights].cast(pl.Float64).to_numpy()
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            raise EvenhandError(
                f"The weights column {weights!r} must hold finite non-negative numbers; got "
                f"{float(w[bad][0])!r} ({int(bad.sum())} such rows)."
            )
    blocks = [np.ones((arrays.height, 1))]
    columns, levels, factor_of = [INTERCEPT], [None], [INTERCEPT]
    cats: list[Categorical] = []
    units: list[tuple[str, str, tuple[int, ...]]] = []
    for name, cols in fac.items():
        for col in cols:
            start = len(columns)
            block, labels, cat = _encode_column(arrays[col], col, name, in_b, pair, start)
            blocks.append(block)
            columns += [col] * len(labels)
            levels += labels
            factor_of += [name] * len(labels)
            units.append((col, name, tuple(range(start, start + len(labels)))))
            if cat is not None:
                cats.append(cat)
    design = Design(
        z=np.hstack(blocks),
        y=arrays[outcome].cast(pl.Float64).to_numpy(),
        w=w,
        in_b=in_b,
        groups=pair,
        columns=columns,
        levels=levels,
        factors=factor_of,
        categoricals=cats,
        units=units,
        factor_names=list(fac),
        n_dropped=n_dropped,
        group_sizes=(int((~in_b).sum()), int(in_b.sum())),
    )
    _check_variation(design, outcome, group)
    return design
