"""Bootstrap replicates drawn over the count table, never over rows.

For unweighted data a row bootstrap within each group is *exactly* a multinomial draw of that
group's rows over its cells, so replicates cost the same whatever the number of rows (about
13 ms for 1,000 replicates of 10 groups with score histograms, 1 ms without scores).
Groups are resampled separately (their sizes are held fixed), the usual stratified bootstrap
for comparing groups; single attributes and the overall population are sums of the resampled
intersections, so all levels share one set of draws.

Rate metrics read only the confusion cells ``(y_true, y_pred)`` and score metrics only the
score histogram per label ``(y_true, bin)`` (see :class:`evenhand._core._metrics.Table`). So each
replicate draws the group's confusion cells (a multinomial over 4 cells), then, for each label,
that label's resampled rows over its score bins (a multinomial given the label's drawn count).
Both margins then have exactly the law of a row bootstrap, and they agree on every label's
count; only the joint law of decision and score bin, which no metric reads, is not drawn.

Score histograms are first merged into at most ``MAX_BOOT_BINS`` bins (exact when no more
distinct scores exist): one per non-empty calibration bin, plus one for every further tenth
of the pooled rows it holds, split at equal mass. Histogram-based metrics of a replicate are
computed on the merged table and recentred on the full-resolution estimate: the interval is
``m̂ + quantiles(m* − m̃)``, with ``m̃`` the metric of the merged, unresampled table. A few
equal-mass bins already give the AUC the spread of a row bootstrap (the tests compare the
replicates' standard deviations with a row bootstrap's, score metrics included); score
variation within a merged bin is not resampled.

With non-uniform row weights the multinomial equivalence breaks. Each cell's weighted total is
then drawn from a Gamma distribution with the mean ``Σw`` and variance ``Σw²`` of a Poisson
bootstrap of that cell (a moment-matched Poisson bootstrap), confusion cells and histogram
cells independently, and results say so.
"""

from __future__ import annotations

import numpy as np

from evenhand._core._metrics import (
    CALIBRATION_BINS,
    Table,
    bin_matmul,
    calibration_onehot,
    onehot_matrix,
)
from evenhand._core._stats import BinaryStats

__all__ = [
    "MAX_BOOT_BINS",
    "draw_cells",
    "draw_replicates",
    "merged_table",
]

MAX_BOOT_BINS = 2 * CALIBRATION_BINS


def _merge_map(mass: np.ndarray, calib: np.ndarray) -> np.ndarray:
    """Map each bin to a merged bin, never crossing a calibration-bin boundary.

    Bins are consecutive; a calibration bin holding a share ``f`` of the pooled mass is cut
    into ``max(1, ceil(10 f))`` pieces of roughly equal mass, at most ``MAX_BOOT_BINS`` in all.
    """
    filled = np.flatnonzero(mass)
    if filled.size <= MAX_BOOT_BINS:  # few distinct bins: keep them all (exact)
        return np.searchsorted(filled, np.arange(mass.size)).clip(0, max(filled.size - 1, 0))
    total = mass.sum()
    mapping = np.empty(mass.size, dtype=np.int64)
    start = 0
    for m in range(CALIBRATION_BINS):
        idx = np.flatnonzero(calib == m)
        share = mass[idx].sum() / total
        pieces = max(1, int(np.ceil(share * CALIBRATION_BINS - 1e-9)))
        cum = np.cumsum(mass[idx]) - mass[idx]
        chunk = np.floor(cum / max(mass[idx].sum(), 1e-300) * pieces).astype(np.int64)
        mapping[idx] = start + np.minimum(chunk, pieces - 1)
        start += pieces
    return np.unique(mapping, return_inverse=True)[1]  # drop pieces that got no bin


def _merge_bins(a: np.ndarray, mapping: np.ndarray, size: int) -> np.ndarray:
    """Sum the last axis of ``a`` into ``size`` merged bins."""
    return bin_matmul(a, onehot_matrix(mapping, size).T)


def merged_table(
    stats: BinaryStats,
) -> tuple[Table, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge histogram bins for resampling (``stats`` must hold a score).

    Returns the merged :class:`Table` and, per label and merged bin ``[group, y, bin]``, the
    weighted counts, score sums, squared-score sums, row counts and squared-weight sums that
    the draws start from.
    """
    raw_score, raw_score_sq, calib = stats.score_arrays
    mapping = _merge_map(stats.rows.sum(axis=(0, 1, 2)).astype(float), calib)
    size = int(mapping.max()) + 1
    merged_calib = np.zeros(size, dtype=np.int64)
    merged_calib[mapping] = calib

    def merge(a: np.ndarray) -> np.ndarray:  # joint [group, y, ŷ, merged bin]
        return _merge_bins(a, mapping, size)

    weight, score, score_sq = merge(stats.weight), merge(raw_score), merge(raw_score_sq)
    table = Table.from_joint(weight, score, score_sq, calib=merged_calib,
                             probability=stats.probability)
    by_label = [a.sum(axis=2) for a in (weight, score, score_sq, merge(stats.rows.astype(float)),
                                        merge(stats.weight_sq))]
    return (table, *by_label)


def draw_cells(
    rows: np.ndarray,
    weight: np.ndarray,
    weight_sq: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    *,
    weighted: bool,
) -> np.ndarray:
    """Resample a count table ``[group, ...cells]`` ``n_boot`` times, groups separately.

    Unweighted: a multinomial draw of each group's rows over its cells (exactly a row
    bootstrap within groups). Weighted: a Gamma draw per cell with the mean ``Σw`` and
    variance ``Σw²`` of a Poisson bootstrap. Returns ``[replicate, group, ...cells]``.
    """
    if weighted:
        return _gamma(weight, weight_sq, n_boot, rng)
    flat = rows.reshape(rows.shape[0], -1)
    totals = np.broadcast_to(flat.sum(axis=1), (n_boot, flat.shape[0]))
    return _multinomial(flat, totals, rng).reshape(n_boot, *rows.shape)


def _gamma(weight: np.ndarray, weight_sq: np.ndarray, n_boot: int,
           rng: np.random.Generator) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        shape = np.where(weight_sq > 0, weight**2 / weight_sq, 1.0)
        scale = np.where(weight > 0, weight_sq / weight, 0.0)
    return rng.gamma(shape, scale, size=(n_boot, *weight.shape))


def _multinomial(counts: np.ndarray, totals: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw ``totals[r, ...]`` rows over the cells ``counts[..., k]`` of their stratum.

    ``counts`` is ``[..., cell]`` and ``totals`` ``[replicate, ...]``; returns
    ``[replicate, ..., cell]``. Drawn as conditional binomials, cell by cell for every
    replicate and stratum at once: ``x_k ~ Binomial(n − Σ_{j<k} x_j, p_k / Σ_{j≥k} p_j)``,
    exactly a multinomial (empty cells get probability 0 and stay empty).
    """
    n_cells = counts.shape[-1]
    p = counts / np.maximum(counts.sum(axis=-1, keepdims=True), 1)
    tail = np.cumsum(p[..., ::-1], axis=-1)[..., ::-1]  # share of cells k, k+1, ...
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(tail > 0, np.clip(p / tail, 0.0, 1.0), 0.0)
    out = np.empty((*totals.shape, n_cells))
    remaining = totals.astype(np.int64)
    for k in range(n_cells - 1):
        out[..., k] = rng.binomial(remaining, np.broadcast_to(q[..., k], remaining.shape))
        remaining = remaining - out[..., k].astype(np.int64)
    out[..., -1] = remaining
    return out


def draw_replicates(
    stats: BinaryStats, n_boot: int, rng: np.random.Generator
) -> tuple[Table, Table]:
    """Draw ``n_boot`` bootstrap replicates of the (merged) count table.

    Returns ``(merged, replicates)``: the merged unresampled table (for recentring) and a
    table whose arrays have a leading replicate axis of length ``n_boot``. A resampled
    cell's score sums are its drawn count times the cell's mean score (and squared score).
    """
    cells = stats.weight.sum(axis=-1)
    rows = stats.rows.sum(axis=-1)
    cells_sq = stats.weight_sq.sum(axis=-1)
    cell_draws = draw_cells(rows, cells, cells_sq, n_boot, rng, weighted=stats.weighted)
    if not stats.has_score:
        return Table(cells), Table(cell_draws)
    merged, weight, score, score_sq, rows, weight_sq = merged_table(stats)
    calib = merged.calib
    assert calib is not None  # merged_table always sets the merged calibration bins
    if stats.weighted:
        hist = _gamma(weight, weight_sq, n_boot, rng)
        per_unit = weight
    else:
        hist = _multinomial(rows, cell_draws.sum(axis=-1), rng)
        per_unit = rows
    with np.errstate(divide="ignore", invalid="ignore"):
        mean, mean_sq = (np.where(per_unit > 0, a / per_unit, 0.0) for a in (score, score_sq))
    scores = hist * mean  # [replicate, group, y, bin]
    replicates = Table(
        cell_draws,
        hist,
        scores.sum(axis=-1),
        np.einsum("rgyb,gyb->rgy", hist, mean_sq),
        bin_matmul(scores.sum(axis=-2), calibration_onehot(calib)),
        calib=calib,
        probability=merged.probability,
    )
    return merged, replicates
