"""Per-group ROC points and their upper convex hull (vectorised)."""

from __future__ import annotations

import numpy as np

__all__ = ["roc_points", "upper_hull"]

# After this many vectorised pruning passes the rest goes through the exact scalar scan;
# real ROC curves converge in a handful of passes.
_MAX_PASSES = 64


def roc_points(
    scores: np.ndarray, y01: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(thresholds, tp, fp)``: weighted counts for the rule ``score >= threshold``.

    The first point is the empty rule (threshold ``+inf``); then one point per distinct
    score, in decreasing order, so ``tp`` and ``fp`` are non-decreasing. The last point,
    "everyone positive", gets threshold ``-inf`` so it also covers scores below any seen.
    """
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    tp = np.cumsum(weight[order] * y01[order])
    fp = np.cumsum(weight[order] * (1 - y01[order]))
    # the last row of each block of tied scores closes that block
    last = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    thresholds = np.concatenate(([np.inf], s[last]))
    thresholds[-1] = -np.inf
    return thresholds, np.concatenate(([0.0], tp[last])), np.concatenate(([0.0], fp[last]))


def upper_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return the indices of the vertices of the upper convex hull of points sorted by x.

    ``x`` must be non-decreasing. The first and last points are always kept; points on a
    hull edge (collinear) are dropped. Each pass removes, all at once, every point not
    strictly above the chord of its two neighbours: a true hull vertex lies strictly above
    any chord between points on either side of it, so it is never removed.
    """
    idx = np.arange(len(x))
    for _ in range(_MAX_PASSES):
        if len(idx) < 3:
            return idx
        xa, xb, xc = x[idx[:-2]], x[idx[1:-1]], x[idx[2:]]
        ya, yb, yc = y[idx[:-2]], y[idx[1:-1]], y[idx[2:]]
        keep = (yb - ya) * (xc - xa) - (yc - ya) * (xb - xa) > 1e-15
        if keep.all():
            return idx
        idx = np.concatenate((idx[:1], idx[1:-1][keep], idx[-1:]))
    return idx[_scan_upper_hull(x[idx], y[idx])]


def _scan_upper_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Andrew's monotone chain (upper part) for the rare inputs pruning does not finish."""
    hull: list[int] = []
    for i in range(len(x)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            if (y[b] - y[a]) * (x[i] - x[a]) - (y[i] - y[a]) * (x[b] - x[a]) > 1e-15:
                break
            hull.pop()
        hull.append(i)
    return np.asarray(hull, dtype=np.intp)
