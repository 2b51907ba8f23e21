"""Bootstrap replicates drawn over the count table, never over rows.

For unweighted data a row bootstrap within each group is *exactly* a multinomial draw of that
group's rows over its cells ``(y_true, y_pred, score bin)``, so replicates cost microseconds
whatever the number of rows. Groups are resampled separately (their sizes are held fixed),
the usual stratified bootstrap for comparing groups; single attributes and the overall
population are sums of the resampled intersections, so all levels share one set of draws.

Score histograms are first merged into at most ``MAX_BOOT_BINS`` bins of roughly equal pooled
mass (exact when fewer distinct scores exist); histogram-based metrics (AUC, calibration) of
a replicate are then computed on the merged table and recentred on the full-resolution
estimate: the interval is ``m̂ + quantiles(m* − m̃)``, with ``m̃`` the metric of the merged,
unresampled table. Count-based metrics are unaffected by merging (plain percentile).

With non-uniform row weights the multinomial equivalence breaks. Each cell's weighted total is
then drawn from a Gamma distribution with the mean ``Σw`` and variance ``Σw²`` of a Poisson
bootstrap of that cell (a moment-matched Poisson bootstrap), and results say so.
"""

from __future__ import annotations

import numpy as np

from evenhand._metrics import CALIBRATION_BINS, Table
from evenhand._stats import BinaryStats

__all__ = [
    "MAX_BOOT_BINS",
    "calibration_index",
    "coarse_table",
    "draw_cells",
    "draw_replicates",
]

MAX_BOOT_BINS = 40  # 4 per calibration bin


def calibration_index(n_bins: int) -> np.ndarray:
    """Calibration bin (0-9) of each of ``n_bins`` uniform histogram bins."""
    return (np.arange(n_bins) * CALIBRATION_BINS) // max(n_bins, 1)


def _coarse_map(stats: BinaryStats) -> np.ndarray:
    """Map each fine bin to a merged bin, never crossing a calibration-bin boundary."""
    n_bins = stats.weight.shape[-1]
    mass = stats.rows.sum(axis=(0, 1, 2)).astype(float)
    filled = np.flatnonzero(mass)
    calib = calibration_index(n_bins)
    if filled.size <= MAX_BOOT_BINS:
        mapping = np.searchsorted(filled, np.arange(n_bins)).clip(0, max(filled.size - 1, 0))
        return mapping
    per = MAX_BOOT_BINS // CALIBRATION_BINS
    mapping = np.empty(n_bins, dtype=np.int64)
    for m in range(CALIBRATION_BINS):
        idx = np.flatnonzero(calib == m)
        cum = np.cumsum(mass[idx])
        total = cum[-1] if cum.size and cum[-1] > 0 else 1.0
        chunk = np.minimum(((cum - mass[idx]) / total * per).astype(np.int64), per - 1)
        mapping[idx] = m * per + chunk
    return mapping


def _fold_bins(a: np.ndarray | None, mapping: np.ndarray, size: int) -> np.ndarray | None:
    if a is None:
        return None
    out = np.zeros((*a.shape[:-1], size))
    for target in range(size):
        out[..., target] = a[..., mapping == target].sum(axis=-1)
    return out


def coarse_table(stats: BinaryStats) -> tuple[Table, np.ndarray, np.ndarray, np.ndarray]:
    """Merge histogram bins for resampling.

    Returns the merged :class:`Table` plus merged row counts, weighted counts and squared
    weight sums (``[group, y, ŷ, bin]``) that the draws start from.
    """
    n_bins = stats.weight.shape[-1]
    if n_bins == 1:
        mapping, size = np.zeros(1, dtype=np.int64), 1
    else:
        mapping = _coarse_map(stats)
        size = int(mapping.max()) + 1
    calib = np.zeros(size, dtype=np.int64)
    calib[mapping] = calibration_index(n_bins)
    table = Table(
        weight=_fold_bins(stats.weight, mapping, size),
        score_sum=_fold_bins(stats.score_sum, mapping, size),
        score_sq=_fold_bins(stats.score_sq, mapping, size),
        calib=calib,
        probability=_is_probability(stats),
    )
    rows = _fold_bins(stats.rows.astype(float), mapping, size)
    weight_sq = _fold_bins(stats.weight_sq, mapping, size)
    return table, rows, table.weight, weight_sq


def _is_probability(stats: BinaryStats) -> bool:
    return stats.edges is not None and stats.edges[0] == 0.0 and stats.edges[-1] == 1.0


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

    Unweighted: a multinomial draw of each group's rows over its non-empty cells (exactly a
    row bootstrap within groups). Weighted: a Gamma draw per cell with the mean ``Σw`` and
    variance ``Σw²`` of a Poisson bootstrap. Returns ``[replicate, group, ...cells]``.
    """
    if weighted:
        with np.errstate(divide="ignore", invalid="ignore"):
            shape = np.where(weight_sq > 0, weight**2 / weight_sq, 1.0)
            scale = np.where(weight > 0, weight_sq / weight, 0.0)
        return rng.gamma(shape, scale, size=(n_boot, *weight.shape))
    n_groups = rows.shape[0]
    flat = rows.reshape(n_groups, -1)
    draws = np.zeros((n_boot, *flat.shape))
    for g in range(n_groups):
        filled = np.flatnonzero(flat[g])  # empty cells stay empty: draw only the others
        total = flat[g, filled].sum()
        if total:
            draws[:, g, filled] = rng.multinomial(round(total), flat[g, filled] / total,
                                                  size=n_boot)
    return draws.reshape(n_boot, *rows.shape)


def draw_replicates(
    stats: BinaryStats, n_boot: int, rng: np.random.Generator
) -> tuple[Table, Table]:
    """Draw ``n_boot`` bootstrap replicates of the merged count table.

    Returns ``(merged, replicates)``: the merged unresampled table (for recentring) and a
    table whose arrays have a leading replicate axis of length ``n_boot``.
    """
    merged, rows, weight, weight_sq = coarse_table(stats)
    draws = draw_cells(rows, weight, weight_sq, n_boot, rng, weighted=stats.weighted)
    per_unit = weight if stats.weighted else rows
    def per_row(a: np.ndarray | None) -> np.ndarray | None:
        if a is None:
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            return draws * np.where(per_unit > 0, a / per_unit, 0.0)

    replicates = Table(
        weight=draws,
        score_sum=per_row(merged.score_sum),
        score_sq=per_row(merged.score_sq),
        calib=merged.calib,
        probability=merged.probability,
    )
    return merged, replicates
