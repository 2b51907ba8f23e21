"""Recourse: the smallest allowed change to a person's features that flips the decision.

Cost of a change ``delta`` is ``sum_j |delta_j| / scale_j`` (L1 in robust units: the
median absolute deviation of the feature in the calibration data, times 1.4826; Wachter,
Mittelstadt & Russell 2018). Allowed changes respect:

- ``actionable`` features only (immutable and sensitive features never move);
- ``bounds``: every new value lies in ``[low, high]``;
- ``monotone``: a feature marked ``"increase"`` (``"decrease"``) may only go up (down).

For a model linear in the raw features (a linear or logistic model, possibly after a
per-feature affine preprocessing such as ``StandardScaler``) the problem is the linear
programme ``min c @ |delta|  s.t.  w @ delta >= gap`` over a box, whose exact solution is
the fractional-knapsack rule: move features in decreasing order of ``|w_j| * scale_j``
(gain per unit cost) as far as needed. Any other model gets a seeded search (single-feature
scans, random draws in the allowed box, bisection toward the person, then dropping
changes that are not needed). Either way the result is only returned after the model
itself has re-scored it and the decision has flipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["RecourseSpace", "linear_recourse", "search_recourse"]

NO_RECOURSE = "No change within the allowed bounds flips this decision."


@dataclass(frozen=True)
class RecourseSpace:
    """Per-feature constraints, aligned with the explainer's raw features.

    ``actionable[j]`` says feature ``j`` may move; ``lower``/``upper`` bound its new
    value; ``direction`` is +1 (increase only), -1 (decrease only) or 0; ``scale`` is the
    unit of cost; ``integer`` rounds new values away from the current one; ``span`` (the
    calibration range) caps how far a search looks along an unbounded feature.
    """

    actionable: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    direction: np.ndarray
    scale: np.ndarray
    integer: np.ndarray
    span: np.ndarray

    def room(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Most negative and most positive allowed ``delta`` per feature (0 if fixed)."""
        lo = self.lower - x
        hi = self.upper - x
        lo = np.where(self.integer, np.ceil(self.lower) - x, lo)
        hi = np.where(self.integer, np.floor(self.upper) - x, hi)
        movable = self.actionable & np.isfinite(x) & (lo <= 0) & (hi >= 0)
        lo = np.where(movable & (self.direction <= 0), lo, 0.0)
        hi = np.where(movable & (self.direction >= 0), hi, 0.0)
        return lo, hi

    def cost(self, delta: np.ndarray) -> np.ndarray:
        """``sum_j |delta_j| / scale_j`` (row-wise for a matrix)."""
        return np.sum(np.abs(delta) / self.scale, axis=-1)


def linear_recourse(
    x: np.ndarray, slopes: np.ndarray, gap: float, space: RecourseSpace
) -> np.ndarray | None:
    """Exact minimum-cost ``delta`` with ``slopes @ delta >= gap`` inside the allowed box.

    ``gap > 0`` is how far the linear predictor must rise (orient ``slopes`` so that
    rising flips the decision). Greedy in decreasing ``|slope_j| * scale_j`` solves this
    continuous knapsack exactly; integer features are then rounded away from ``x``,
    which can only add gain. Returns ``None`` if even the full allowed moves fall short.
    """
    lo, hi = space.room(x)
    # the useful side of each feature: up if its slope is positive, down if negative
    reach = np.where(slopes > 0, hi, np.where(slopes < 0, lo, 0.0))
    gain_max = slopes * reach
    if gain_max.sum() < gap or gap <= 0:
        return None if gap > 0 else np.zeros_like(x)
    efficiency = np.abs(slopes) * space.scale
    delta = np.zeros_like(x)
    needed = gap
    # rounding can leave a residue of ~1e-16; chasing it with a near-zero slope would
    # spend a whole feature's room for nothing
    tolerance = 1e-12 * max(1.0, abs(gap))
    for j in np.argsort(-efficiency, kind="stable"):
        if needed <= tolerance or gain_max[j] <= 0:
            continue
        # the distance still needed along this feature's useful side, capped by its room
        step = np.sign(reach[j]) * min(needed / abs(slopes[j]), abs(reach[j]))
        if space.integer[j]:
            step = np.sign(step) * min(np.ceil(abs(step) - 1e-12), abs(reach[j]))
        delta[j] = step
        needed -= slopes[j] * step
    return delta if needed <= tolerance else None


def search_recourse(
    x: np.ndarray,
    flips: Callable[[np.ndarray], np.ndarray],
    space: RecourseSpace,
    rng: np.random.Generator,
    *,
    n_grid: int = 24,
    n_random: int = 400,
    n_refine: int = 5,
) -> np.ndarray | None:
    """Seeded search for a low-cost ``delta`` such that ``flips(x + delta)`` holds.

    ``flips`` takes a matrix of candidate rows and returns a boolean per row. No
    minimality guarantee (the model is a black box); every returned change flips.
    """
    lo, hi = space.room(x)
    # an unbounded side is searched up to twice the calibration range (models are rarely
    # informative beyond it, and trees are constant there)
    lo, hi = np.maximum(lo, -2 * space.span), np.minimum(hi, 2 * space.span)
    lo = np.where(space.integer, np.ceil(lo), lo)
    hi = np.where(space.integer, np.floor(hi), hi)
    if not np.any((lo < 0) | (hi > 0)):
        return None
    candidates = np.vstack(
        [_single_feature_grid(lo, hi, n_grid), _box_draws(lo, hi, n_random, rng)]
    )
    candidates = _round(candidates, x, space)
    ok = flips(x + candidates)
    if not ok.any():
        return None
    pool = candidates[ok]
    best = pool[np.argsort(space.cost(pool), kind="stable")[:n_refine]]
    best = _bisect(x, best, flips, space)
    best = _sparsify(x, best, flips, space)
    best = _bisect(x, best, flips, space)
    verified = best[flips(x + best)]
    if not len(verified):  # pragma: no cover - refinement keeps only flipping points
        return None
    return verified[int(np.argmin(space.cost(verified)))]


def _single_feature_grid(lo: np.ndarray, hi: np.ndarray, n: int) -> np.ndarray:
    """Move one feature at a time, ``n`` geometric steps to each allowed side."""
    fractions = np.geomspace(1.0 / n, 1.0, n)
    rows = []
    for j in np.flatnonzero((lo < 0) | (hi > 0)):
        for side in (lo[j], hi[j]):
            if side != 0:
                block = np.zeros((n, len(lo)))
                block[:, j] = fractions * side
                rows.append(block)
    return np.vstack(rows) if rows else np.zeros((0, len(lo)))


def _box_draws(lo: np.ndarray, hi: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform draws in the allowed box shrunk by radii 5%..100% (small changes first)."""
    radii = np.repeat([0.05, 0.15, 0.35, 0.7, 1.0], -(-n // 5))[:n]
    u = rng.uniform(size=(n, len(lo)))
    return radii[:, None] * (lo + u * (hi - lo))


def _round(delta: np.ndarray, x: np.ndarray, space: RecourseSpace) -> np.ndarray:
    """Integer features: round the new value away from ``x`` (keeps it in bounds)."""
    if not space.integer.any():
        return delta
    away = np.sign(delta) * np.ceil(np.abs(delta) - 1e-12)
    return np.where(space.integer[None, :], away, delta)


def _bisect(
    x: np.ndarray,
    deltas: np.ndarray,
    flips: Callable[[np.ndarray], np.ndarray],
    space: RecourseSpace,
    iterations: int = 10,
) -> np.ndarray:
    """Shrink each flipping ``delta`` toward 0 along its ray while it still flips."""
    low = np.zeros(len(deltas))  # largest known non-flipping fraction (0 never flips)
    high = np.ones(len(deltas))  # smallest known flipping fraction
    for _ in range(iterations):
        mid = (low + high) / 2
        ok = flips(x + _round(mid[:, None] * deltas, x, space))
        high = np.where(ok, mid, high)
        low = np.where(ok, low, mid)
    return _round(high[:, None] * deltas, x, space)


def _sparsify(
    x: np.ndarray, deltas: np.ndarray, flips: Callable[[np.ndarray], np.ndarray],
    space: RecourseSpace,
) -> np.ndarray:
    """Undo changes one at a time (cheapest first) whenever the decision still flips.

    All candidates advance together: one model call per step, not per candidate.
    """
    deltas = deltas.copy()
    order = np.argsort(np.abs(deltas) / space.scale, axis=1)
    rows = np.arange(len(deltas))
    for step in range(deltas.shape[1]):
        j = order[:, step]
        trial = deltas.copy()
        trial[rows, j] = 0.0
        keep = flips(x + trial) & (deltas[rows, j] != 0)
        deltas[keep] = trial[keep]
    return deltas
