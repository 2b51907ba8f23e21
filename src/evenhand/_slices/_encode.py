"""Encoding slice-finding features into small integer codes with readable predicates.

Every feature becomes one ``int32`` code per row (``0 .. n_levels - 1``) plus, for each
code, the text of the predicate it stands for (``sex == 'F'``, ``age in [18, 25)``,
``income is null``). The lattice search only ever sees the codes; the labels are used
when the result table is written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import polars as pl

from evenhand._core._errors import EvenhandError

__all__ = ["EncodedFeature", "encode_features", "quote_name"]


@dataclass(frozen=True)
class EncodedFeature:
    """One feature as integer codes.

    Attributes
    ----------
    name : str
        Column name.
    codes : numpy.ndarray
        ``int32`` code of every row, in ``0 .. len(labels) - 1``.
    labels : tuple of str
        Predicate text of each code, e.g. ``"age in [18, 25)"``.
    """

    name: str
    codes: np.ndarray
    labels: tuple[str, ...]

    @property
    def n_levels(self) -> int:
        """Number of distinct codes (the null level included)."""
        return len(self.labels)


def quote_name(name: str) -> str:
    """Return ``name`` as it should appear in a predicate (backticks unless an identifier)."""
    return name if name.isidentifier() else f"`{name}`"


def _format_value(value: object) -> str:
    if isinstance(value, bool | int | float):
        return repr(value)
    return repr(str(value))


def _format_edges(edges: np.ndarray) -> list[str]:
    """Shortest ``%g`` rendering (4 significant digits at least) keeping the edges distinct."""
    for digits in range(4, 18):
        texts = [f"{edge:.{digits}g}" for edge in edges]
        if len(set(texts)) == len(texts):
            return texts
    return [repr(float(edge)) for edge in edges]


def _is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() and dtype != pl.Boolean


def _encode_categorical(name: str, series: pl.Series) -> EncodedFeature:
    """Codes ordered by value (nulls last) so results do not depend on row order.

    Hash lookups, not a sort of the rows: strings go through an ``Enum`` of their sorted
    distinct values, numbers and booleans through a binary search among them.
    """
    if series.dtype.is_numeric() or series.dtype == pl.Boolean:
        uniques = series.drop_nulls().unique().sort()
        # in the column's own dtype: large integers would collide as floats
        filled = series.fill_null(uniques[0]) if uniques.len() else series
        codes = np.searchsorted(uniques.to_numpy(), filled.to_numpy())
        codes[series.is_null().to_numpy()] = uniques.len()
    else:
        series = series.cast(pl.String)
        uniques = series.drop_nulls().unique().sort()
        physical = series.cast(pl.Enum(uniques)).to_physical()
        codes = physical.fill_null(uniques.len()).to_numpy()
    codes = codes.astype(np.int32)
    values = uniques.to_list()
    label_name = quote_name(name)
    labels = [f"{label_name} == {_format_value(v)}" for v in values]
    if series.null_count():
        labels.append(f"{label_name} is null")
    return EncodedFeature(name, codes, tuple(labels))


def _encode_numeric(name: str, values: np.ndarray, n_bins: int) -> EncodedFeature:
    """Quantile bins ``[e_i, e_{i+1})``, the last one closed; edges are observed values.

    ``method="higher"`` makes each edge the first value at or above its quantile, so a
    bin ``[e_i, e_{i+1})`` holds about ``n / n_bins`` rows when values are distinct.
    """
    missing = np.isnan(values)
    finite = values[~missing]
    quantiles = np.linspace(0.0, 1.0, n_bins + 1)
    edges = np.unique(np.quantile(finite, quantiles, method="higher"))
    codes = np.searchsorted(edges[1:-1], values, side="right").astype(np.int32)
    texts = _format_edges(edges)
    label_name = quote_name(name)
    if len(edges) == 1:
        labels = [f"{label_name} == {texts[0]}"]
    else:
        labels = [f"{label_name} in [{lo}, {hi})" for lo, hi in pairwise(texts)]
        labels[-1] = labels[-1][:-1] + "]"
    if missing.any():
        codes[missing] = len(labels)
        labels.append(f"{label_name} is null")
    return EncodedFeature(name, codes, tuple(labels))


def encode_features(
    frame: pl.DataFrame, features: Sequence[str], n_bins: int
) -> list[EncodedFeature]:
    """Encode each feature column of ``frame``.

    A numeric column with more than ``n_bins`` distinct values is cut into ``n_bins``
    quantile bins (fewer when quantiles coincide); any other column is categorical, one
    level per distinct value. Nulls (and NaN in numeric columns) form their own level.
    """
    encoded = []
    for name in features:
        series = frame.get_column(name)
        if series.dtype.is_float():
            series = series.fill_nan(None)  # NaN and null are one "missing" level
        if _is_numeric(series.dtype) and series.drop_nulls().n_unique() > n_bins:
            values = series.cast(pl.Float64).fill_null(math.nan).to_numpy()
            if np.isinf(values).any():
                raise EvenhandError(
                    f"Feature column {name!r} holds infinite values; got "
                    f"{int(np.isinf(values).sum())} of them. Replace them (e.g. by null) "
                    "before finding slices."
                )
            encoded.append(_encode_numeric(name, values, n_bins))
        else:
            encoded.append(_encode_categorical(name, series))
    return encoded
