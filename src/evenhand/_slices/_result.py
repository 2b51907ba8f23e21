"""The result of a slice search: each reported slice's statistics and the search summary.

:func:`~evenhand.find_slices` validates its arguments and encodes the features; the
functions here run the lattice search on the encoded codes, then recompute every
reported slice's error, interval, lift, corrected p-value and score from its own rows
and build the result table and the :class:`SliceSearch` summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from evenhand._slices._encode import EncodedFeature
from evenhand._slices._search import Found, SearchResult, lattice_size, search
from evenhand._slices._stats import (
    CiMethod,
    Correction,
    Objective,
    RankBy,
    bonferroni_adjust,
    error_interval,
    holm_adjust,
    one_sided_pvalue,
)

__all__ = ["RESULT_SCHEMA", "SliceOptions", "SliceSearch", "run_search"]

RESULT_SCHEMA = {
    "slice": pl.String,
    "size": pl.Int64,
    "error": pl.Float64,
    "error_ci_low": pl.Float64,
    "error_ci_high": pl.Float64,
    "lift": pl.Float64,
    "p_value": pl.Float64,
    "score": pl.Float64,
}



@dataclass(frozen=True)
class SliceSearch:
    """How a :func:`find_slices` search went (returned with ``return_stats=True``).

    Attributes
    ----------
    n_rows : int
        Rows searched.
    mean_error : float
        Overall mean loss ``ē``.
    loss_kind : str
        ``"0/1"`` when every loss is 0 or 1, else ``"continuous"``.
    min_support : int
        Minimum slice size ``σ`` used, in rows.
    candidates_evaluated : int
        Slices whose statistics were computed (all level-1 slices plus the
        candidates that survived pruning): the family of ``m`` tests that ``p_value``
        is corrected for.
    lattice_size : int
        Conjunctions of at most ``max_order`` predicates on distinct features.
    feature_sets_scanned : int
        Feature combinations of order ≥ 2 that needed a pass over the rows.
    candidates_per_level : list of int
        ``candidates_evaluated`` split by number of predicates.
    predicates : list of list of str
        The predicates of each returned slice, in result order.
    correction : str
        Family-wise correction of ``p_value``: ``"bonferroni"`` or ``"holm"``.
    """

    n_rows: int
    mean_error: float
    loss_kind: str
    min_support: int
    candidates_evaluated: int
    lattice_size: int
    feature_sets_scanned: int
    candidates_per_level: list[int] = field(default_factory=list)
    predicates: list[list[str]] = field(default_factory=list)
    correction: str = "bonferroni"



def _describe(found: Found, encoded: list[EncodedFeature]) -> list[str]:
    return [encoded[f].labels[level] for f, level in zip(found.features, found.levels, strict=True)]


def _slice_row(found, encoded, loss, objective, interval):
    """Exact statistics of one reported slice, recomputed from its rows (raw p-value)."""
    mask = np.ones(loss.size, dtype=bool)
    for f, level in zip(found.features, found.levels, strict=True):
        mask &= encoded[f].codes == level
    rows = loss[mask]
    size, total = rows.size, float(rows.sum())
    square = np.array([float((rows**2).sum())])
    p_raw = one_sided_pvalue(objective, np.array([size]), np.array([total]), square)[0]
    low, high = interval(rows)
    mean = total / size
    return {
        "slice": " & ".join(_describe(found, encoded)),
        "size": size,
        "error": mean,
        "error_ci_low": low,
        "error_ci_high": high,
        "lift": mean / objective.mean_error,
        "p_value": float(p_raw),
        "score": float(objective.score(np.array([size]), np.array([total]))[0]),
    }



@dataclass(frozen=True)
class SliceOptions:
    """The validated search and reporting options of one find_slices call."""

    max_order: int
    top_k: int
    alpha: float
    rank_by: RankBy
    confidence: float
    ci: CiMethod
    n_boot: int
    seed: int | None
    correction: Correction = "bonferroni"


def run_search(
    encoded: list[EncodedFeature], losses: np.ndarray, opts: SliceOptions, sigma: int
) -> tuple[pl.DataFrame, SliceSearch]:
    """Search the lattice, then recompute each reported slice's statistics from its rows."""
    n = losses.size
    binary = bool(np.isin(losses, (0.0, 1.0)).all())
    max_order = min(opts.max_order, len(encoded))
    objective = Objective(
        opts.rank_by, opts.alpha, n, float(losses.sum()), float((losses**2).sum()), sigma, binary
    )
    levels = [e.n_levels for e in encoded]
    lattice = lattice_size(levels, max_order)
    kind = "0/1" if binary else "continuous"
    if objective.total_error <= 0:
        empty = pl.DataFrame(schema=RESULT_SCHEMA)
        return empty, SliceSearch(n, 0.0, kind, sigma, 0, lattice, 0, correction=opts.correction)
    found = search(
        [e.codes for e in encoded],
        levels,
        losses,
        objective,
        max_order=max_order,
        top_k=opts.top_k,
        keep_family=opts.correction == "holm",
    )
    rng = np.random.default_rng(opts.seed)

    def interval(rows: np.ndarray) -> tuple[float, float]:
        return error_interval(
            rows,
            binary=binary,
            confidence=opts.confidence,
            method=opts.ci,
            rng=rng,
            n_boot=opts.n_boot,
        )

    rows = [_slice_row(f, encoded, losses, objective, interval) for f in found.top]
    table = pl.DataFrame(rows, schema=RESULT_SCHEMA) if rows else pl.DataFrame(schema=RESULT_SCHEMA)
    table = table.with_columns(p_value=_corrected(table["p_value"].to_numpy(), found))
    info = SliceSearch(
        n,
        objective.mean_error,
        kind,
        sigma,
        found.candidates_evaluated,
        lattice,
        found.feature_sets_scanned,
        found.per_level,
        [_describe(f, encoded) for f in found.top],
        opts.correction,
    )
    return table, info


def _corrected(raw: np.ndarray, found: SearchResult) -> pl.Series:
    """Correct the reported slices' raw p-values for the family of evaluated slices."""
    if found.family is None or raw.size == 0:
        adjusted = bonferroni_adjust(raw, found.candidates_evaluated)
    else:
        # every evaluated slice was recorded once: the family Bonferroni counts
        assert found.family.size == found.candidates_evaluated
        adjusted = holm_adjust(raw, found.family.pvalues(up_to=float(raw.max())))
    return pl.Series("p_value", adjusted, dtype=pl.Float64)
