"""Ranking audits: exposure in the top ``k`` set against merit, per group.

Items are ranked by ``y_score`` (highest first; tied items share the average of their ranks,
so the result does not depend on row order). Item ``i`` at rank ``r_i`` receives the
position-based exposure ``e_i = 1 / log2(1 + r_i)`` when ``r_i <= k`` and 0 otherwise (the
DCG discount). Per group ``g`` with ``n_g`` items and relevance ``y`` (``y_true``):

- ``top_k_rate = #{i in g: r_i <= k} / n_g`` — a rate, with a Wilson interval;
- ``top_k_share`` — the group's share of the top-``k`` items;
- ``exposure_share = Σ_g e_i / Σ e_i`` and ``relevance_share = Σ_g y_i / Σ y_i``;
- ``exposure_to_relevance = exposure_share / relevance_share`` — 1 when exposure is
  proportional to merit (Singh & Joachims 2018's disparate exposure); below 1, the group is
  under-exposed for its relevance;
- ``mean_relevance = Σ_g y_i / n_g``.

One ranking (one query) per audit; shares of the overall population are 1 by definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import polars as pl

from evenhand._core._errors import EvenhandError
from evenhand._core._frame import group_codes
from evenhand._core._levels import Level, finish_level
from evenhand._core._metrics import _div
from evenhand._core._stats import _collect, _lazy, _validation_pass, checked_columns

__all__ = ["RANKING_METRICS", "ranking_levels"]

RANKING_METRICS = ("top_k_rate", "top_k_share", "exposure_share", "relevance_share",
                   "exposure_to_relevance", "mean_relevance")
_BETTER = (None, None, None, None, None, None)


def _sums(frame, sensitive, y_true, y_score, k, dropna) -> tuple[Any, dict[str, np.ndarray]]:
    checked = checked_columns(sensitive, dropna, y_true=y_true, y_score=y_score)
    _validation_pass(frame, checked=checked, score=y_score, weight=None)
    lazy = _lazy(frame)
    totals = _collect(lazy.with_columns(nw.col(y_true).cast(nw.Float64).alias("__rel"))
                      .group_by(*sensitive, drop_null_keys=False)
                      .agg(nw.len().alias("__n"), nw.col("__rel").sum(),
                           nw.col("__rel").min().alias("__rel_min")))
    if (totals["__rel_min"] < 0).any():
        raise EvenhandError(f"Column {y_true!r} (relevance) has negative values; "
                            "relevance must be non-negative.")
    # Only rows whose tie block starts inside the top k get exposure: few rows come back.
    score = nw.col(y_score)
    blocks = _collect(
        lazy.with_columns(score.rank(method="min", descending=True).alias("__a"),
                          score.rank(method="max", descending=True).alias("__b"))
        .filter(nw.col("__a") <= k)
        .group_by(*sensitive, "__a", "__b", drop_null_keys=False)
        .agg(nw.len().alias("__m"))
    )
    keys, codes = group_codes(totals, sensitive)
    sums = {"__n": np.bincount(codes, weights=totals["__n"].to_numpy(), minlength=len(keys)),
            "__rel": np.bincount(codes, weights=totals["__rel"].to_numpy(), minlength=len(keys))}
    sums["__top"], sums["__exposure"] = _block_exposure(blocks, keys, sensitive, k)
    return keys, sums


def _block_exposure(blocks, keys, sensitive, k) -> tuple[np.ndarray, np.ndarray]:
    """Top-k count and exposure per group; a tie block spreads its positions evenly."""
    top = np.zeros(len(keys))
    exposure = np.zeros(len(keys))
    if blocks.height == 0:
        return top, exposure
    cumulative = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    _, codes = group_codes(pl.concat([keys, blocks.select(sensitive)], how="vertical_relaxed"),
                           sensitive)
    codes = codes[len(keys):]
    a = blocks["__a"].to_numpy().astype(np.int64)
    b = blocks["__b"].to_numpy().astype(np.int64)
    m = blocks["__m"].to_numpy().astype(float)
    size = b - a + 1
    inside = np.minimum(b, k)
    share = (inside - a + 1) / size
    per_item = (cumulative[inside] - cumulative[a - 1]) / size
    np.add.at(top, codes, m * share)
    np.add.at(exposure, codes, m * per_item)
    return top, exposure


def ranking_levels(
    frame: Any,
    *,
    sensitive: Sequence[str],
    y_true: str,
    y_score: str,
    k: int | None,
    dropna: bool,
    specs: Sequence[tuple[str, ...]],
    ci: float,
    min_group_size: int,
) -> tuple[list[Level], Level]:
    """Exposure and relevance shares per grouping, and the top-``k`` rate with intervals."""
    if k is None or not isinstance(k, int | np.integer) or k < 1:
        raise EvenhandError(f"A ranking audit needs k, a positive integer; got {k!r}.")
    keys, sums = _sums(frame, sensitive, y_true, y_score, k, dropna)
    total = {name: a.sum() for name, a in sums.items()}
    out = []
    for attrs in [*specs, ()]:
        level_keys, codes = group_codes(keys, attrs)
        size = max(len(level_keys), 1)
        s = {name: np.bincount(codes, weights=a, minlength=size) for name, a in sums.items()}
        value = np.array([
            _div(s["__top"], s["__n"]),
            _div(s["__top"], np.full(size, total["__top"])),
            _div(s["__exposure"], np.full(size, total["__exposure"])),
            _div(s["__rel"], np.full(size, total["__rel"])),
            _div(_div(s["__exposure"], np.full(size, total["__exposure"])),
                 _div(s["__rel"], np.full(size, total["__rel"]))),
            _div(s["__rel"], s["__n"]),
        ])
        num = np.full_like(value, np.nan)
        den = np.full_like(value, np.nan)
        num[0], den[0] = s["__top"], s["__n"]
        out.append(finish_level(
            attrs, level_keys, s["__n"], list(RANKING_METRICS), value, None, num, den,
            ci=ci, ci_method="wilson", min_group_size=min_group_size,
            higher_is_better=list(_BETTER),
        ))
    return out[:-1], out[-1]
