"""Score curves per group (ROC, reliability, threshold sweep) from the audit's histograms.

Everything here reads :class:`evenhand._core._stats.BinaryStats`: weighted counts indexed
``[group, y_true, y_pred, bin]`` over uniform score bins with edges ``e_0 < … < e_B``. Bin
``i`` holds the scores in ``[e_i, e_{i+1})``, so the decision ``score ≥ e_i`` selects exactly
the bins ``j ≥ i``: every rate below is exact at a bin edge, and never re-reads the data.

Per group ``g`` and threshold index ``i`` (weighted counts ``P_j`` of positives and ``N_j`` of
negatives in bin ``j``):

- ``tpr(i) = Σ_{j≥i} P_j / Σ_j P_j``, ``fpr(i) = Σ_{j≥i} N_j / Σ_j N_j``,
- ``selection_rate(i) = Σ_{j≥i} (P_j + N_j) / Σ_j (P_j + N_j)``,
- reliability: per score value (few distinct scores) or per tenth of the score range,
  the observed positive rate ``P / (P + N)`` with a Wilson interval on Kish's effective count.

A denominator of 0 gives ``nan``. Nothing row-level is returned: thresholds are bin edges or,
for scores with few distinct values (a scale such as COMPAS deciles 1–10), those values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from evenhand._core._levels import Level
from evenhand._core._metrics import onehot_matrix
from evenhand._core._stats import BinaryStats
from evenhand._core._uncertainty import normal_quantile, wilson

__all__ = [
    "MAX_CURVE_GROUPS",
    "GroupedHistogram",
    "calibration_table",
    "grouped_histogram",
    "roc_table",
    "threshold_table",
]

MAX_DISCRETE = 50  # at most this many distinct scores are shown as score values
MAX_CURVE_GROUPS = 8  # curves per chart (the palette has 8 colours); the largest kept
ROC_POINTS = 200
SWEEP_POINTS = 50
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class GroupedHistogram:
    """Score histograms of one grouping: ``pos``/``neg`` weighted counts ``[group, bin]``.

    ``pos_sq``/``neg_sq`` hold sums of squared weights (for effective counts); ``labels``
    name the groups; ``edges`` are the ``B + 1`` bin edges; ``values`` the distinct score of
    each bin when the score is a small discrete scale (else ``None``); ``calib`` the
    calibration bin of each bin (tenths of [0, 1] for probabilities, else of the range).
    """

    labels: list[str]
    count: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    pos_sq: np.ndarray
    neg_sq: np.ndarray
    edges: np.ndarray
    values: np.ndarray | None
    calib: np.ndarray | None = None
    probability: bool = False

    @property
    def discrete(self) -> bool:
        """Whether the score takes few distinct values, shown as such."""
        return self.values is not None


def _level_codes(stats: BinaryStats, level: Level) -> np.ndarray:
    """Index within ``level`` of each finest group of ``stats``."""
    if not level.attrs:
        return np.zeros(len(stats.keys), dtype=np.int64)
    attrs = list(level.attrs)
    return (
        stats.keys.select(attrs)
        .with_row_index("__row")
        .join(level.keys.with_row_index("__code"), on=attrs, how="left", nulls_equal=True)
        .sort("__row")
        .get_column("__code")
        .to_numpy()
        .astype(np.int64)
    )


def grouped_histogram(
    stats: BinaryStats, level: Level, max_groups: int | None = MAX_CURVE_GROUPS
) -> GroupedHistogram:
    """Fold the finest groups' score histograms into the groups of ``level``.

    Keeps the ``max_groups`` largest groups (in their original order) when there are more.
    """
    if not stats.has_score or stats.edges is None:
        raise ValueError("the audit has no score histogram")
    size = max(len(level.keys), 1)
    fold = onehot_matrix(_level_codes(stats, level), size)
    by_label = np.tensordot(fold, stats.weight.sum(axis=2), axes=1)  # [group, y_true, bin]
    by_label_sq = np.tensordot(fold, stats.weight_sq.sum(axis=2), axes=1)
    keep = np.arange(size)
    if max_groups is not None and size > max_groups:
        keep = np.sort(np.argsort(-level.count, kind="stable")[:max_groups])
    labels = level.labels()
    return GroupedHistogram(
        labels=[labels[k] for k in keep],
        count=np.asarray(level.count)[keep],
        pos=by_label[keep, 1],
        neg=by_label[keep, 0],
        pos_sq=by_label_sq[keep, 1],
        neg_sq=by_label_sq[keep, 0],
        edges=stats.edges,
        calib=stats.calib,
        probability=stats.probability,
        values=_discrete_values(stats),
    )


def _discrete_values(stats: BinaryStats) -> np.ndarray | None:
    """Score of each filled bin when bins are exact and few (``nan`` for empty bins)."""
    if stats.bin_max is None or not stats.exact_bins:
        return None
    filled = ~np.isnan(stats.bin_max)
    if filled.sum() > MAX_DISCRETE:
        return None
    return stats.bin_max.copy()


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _tail(a: np.ndarray) -> np.ndarray:
    """``out[..., i] = Σ_{j≥i} a[..., j]`` with a final column of zeros (nothing selected)."""
    rev = np.cumsum(a[..., ::-1], axis=-1)[..., ::-1]
    return np.concatenate([rev, np.zeros((*a.shape[:-1], 1))], axis=-1)


def _threshold_index(hist: GroupedHistogram, points: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin indices used as thresholds and the threshold value shown for each."""
    n_bins = hist.pos.shape[-1]
    values = hist.values
    if values is not None:  # hist.discrete
        idx = np.flatnonzero(~np.isnan(values))
        return idx, values[idx]
    mass = (hist.pos + hist.neg).sum(axis=0)
    filled = np.flatnonzero(mass)
    lo, hi = (filled[0], filled[-1] + 1) if filled.size else (0, n_bins)
    idx = np.unique(np.linspace(lo, hi, points + 1).round().astype(np.int64))
    return idx, hist.edges[idx]


def threshold_table(hist: GroupedHistogram, points: int = SWEEP_POINTS) -> pl.DataFrame:
    """Compute selection rate, TPR and FPR of each group when deciding ``score ≥ threshold``.

    One row per group and threshold (columns ``group``, ``threshold``, ``selection_rate``,
    ``tpr``, ``fpr``); thresholds are the distinct scores of a discrete scale, else about
    ``points`` bin edges spread over the observed score range.
    """
    idx, shown = _threshold_index(hist, points)
    pos, neg = _tail(hist.pos)[:, idx], _tail(hist.neg)[:, idx]
    n_pos, n_neg = hist.pos.sum(axis=1, keepdims=True), hist.neg.sum(axis=1, keepdims=True)
    k = len(hist.labels)
    return pl.DataFrame({
        "group": np.repeat(hist.labels, len(idx)),
        "threshold": np.tile(shown, k),
        "selection_rate": _div(pos + neg, n_pos + n_neg).ravel(),
        "tpr": _div(pos, n_pos).ravel(),
        "fpr": _div(neg, n_neg).ravel(),
    })


def roc_table(hist: GroupedHistogram, points: int = ROC_POINTS) -> pl.DataFrame:
    """ROC curve of each group: ``fpr``, ``tpr`` at every threshold from "all" to "none".

    Columns ``group``, ``threshold`` (``nan`` for the final "nobody selected" point),
    ``fpr``, ``tpr``. Continuous scores are thinned to about ``points`` thresholds.
    """
    n_bins = hist.pos.shape[-1]
    values = hist.values
    if values is not None:  # hist.discrete
        idx = np.flatnonzero(~np.isnan(values))
        shown = values[idx]
    else:
        idx, shown = _threshold_index(hist, points)
    idx = np.append(idx, n_bins)
    shown = np.append(shown, np.nan)
    pos, neg = _tail(hist.pos)[:, idx], _tail(hist.neg)[:, idx]
    k = len(hist.labels)
    return pl.DataFrame({
        "group": np.repeat(hist.labels, len(idx)),
        "threshold": np.tile(shown, k),
        "fpr": _div(neg, hist.neg.sum(axis=1, keepdims=True)).ravel(),
        "tpr": _div(pos, hist.pos.sum(axis=1, keepdims=True)).ravel(),
    })


def calibration_table(hist: GroupedHistogram, ci: float = 0.95) -> pl.DataFrame:
    """Observed positive rate per score value (or tenth of the range), per group.

    Columns ``group``, ``score`` (the value, or the bin's centre), ``count`` (weighted),
    ``positive_rate``, ``ci_low``, ``ci_high`` (Wilson on Kish's effective count). Empty
    cells are left out.
    """
    n_bins = hist.pos.shape[-1]
    values = hist.values
    if values is not None:  # hist.discrete
        idx = np.flatnonzero(~np.isnan(values))
        cell = np.searchsorted(idx, np.arange(n_bins)).clip(0, len(idx) - 1)
        centres = values[idx]
    else:
        assert hist.calib is not None  # grouped_histogram copies the stats' calibration bins
        cell = hist.calib
        e = hist.edges
        lo, hi = (0.0, 1.0) if hist.probability else (e[0], e[-1])
        cuts = lo + (hi - lo) * np.arange(CALIBRATION_BINS + 1) / CALIBRATION_BINS
        centres = (cuts[:-1] + cuts[1:]) / 2
    m = len(centres)
    fold = np.zeros((n_bins, m))
    fold[np.arange(n_bins), cell] = 1.0
    pos, neg = hist.pos @ fold, hist.neg @ fold
    w2 = (hist.pos_sq + hist.neg_sq) @ fold
    n = pos + neg
    n_eff = _div(n * n, w2)
    x_eff = np.nan_to_num(_div(pos, n)) * np.nan_to_num(n_eff)
    low, high = wilson(x_eff, np.nan_to_num(n_eff), normal_quantile(ci))
    k = len(hist.labels)
    frame = pl.DataFrame({
        "group": np.repeat(hist.labels, m),
        "score": np.tile(centres, k),
        "count": n.ravel(),
        "positive_rate": _div(pos, n).ravel(),
        "ci_low": low.ravel(),
        "ci_high": high.ravel(),
    })
    return frame.filter(pl.col("count") > 0)
