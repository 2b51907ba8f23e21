"""Exact intervals of per-group metrics over the decisions the unstable rows can take.

In a group, the rows whose decision is fixed give fixed confusion counts
``TP₀, FP₀, FN₀, TN₀``. Among the unstable rows, ``u₁`` have ``y = 1`` and ``u₀`` have
``y = 0``; any ``k₁ ∈ {0..u₁}`` of the former and ``k₀ ∈ {0..u₀}`` of the latter can be
selected, giving ``TP = TP₀ + k₁``, ``FN = FN₀ + u₁ − k₁``, ``FP = FP₀ + k₀``,
``TN = TN₀ + u₀ − k₀``. Which rows flip does not matter, only how many.

Every reported metric is linear or linear-fractional in ``(k₁, k₀)`` — e.g. the PPV
``(TP₀ + k₁) / (TP₀ + FP₀ + k₁ + k₀)`` — and a linear-fractional function with a positive
denominator attains its extremes over a polytope at a vertex. The denominator is a count,
so "defined" means "denominator ≥ 1": a half-plane whose edge, for every denominator used
here (``k₁ + k₀``, ``k₀``, ``u₁ + u₀ − k₁ − k₀`` plus a constant, ...), cuts the box
``[0, u₁] × [0, u₀]`` at integer points with coordinates in ``{0, 1, u − 1, u}``. So the
exact minimum and maximum over all decisions where the metric is defined are found by
evaluating the 16 points ``{0, 1, u₁ − 1, u₁} × {0, 1, u₀ − 1, u₀}`` (clipped to the box).
A metric undefined at every point (zero denominator) has ``nan`` bounds.

Groups are disjoint, so their decisions vary independently: the interval of a difference
``m(g) − m(r)`` is exactly ``[low_g − high_r, high_g − low_r]``, and of a ratio
``[low_g / high_r, high_g / low_r]`` when ``low_r > 0``. The largest between-groups spread
``max − min`` is exactly the largest ``high_g − low_h`` over pairs ``g ≠ h``; its smallest
value is bounded below by ``max(0, max_g low_g − min_h high_h)`` (sound, attained only when
the groups' attainable values meet), so it is labelled exact only for two groups whose
difference interval excludes 0.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from evenhand._core._metrics import BINARY_METRICS, Table

__all__ = ["LABEL_METRICS", "disparity_table", "metric_intervals"]

LABEL_METRICS = (
    "selection_rate", "tpr", "fpr", "fnr", "tnr", "ppv", "npv", "fdr", "for",
    "accuracy", "error_rate", "balanced_accuracy", "f1", "treatment_equality",
)


def _counts(codes, n_groups, y, pred, keep) -> np.ndarray:
    """Confusion counts ``[group, y, pred]`` of the rows in ``keep``."""
    key = (codes[keep] * 2 + y[keep]) * 2 + pred[keep]
    return np.bincount(key, minlength=n_groups * 4).reshape(n_groups, 2, 2).astype(float)


def _vertex_cells(base: np.ndarray, u1: np.ndarray, u0: np.ndarray) -> np.ndarray:
    """Cells ``[16, group, y, pred]`` at the candidate vertices of each group's box."""
    def options(u):
        return np.clip(np.stack([np.zeros_like(u), np.ones_like(u), u - 1, u]), 0, u)

    k1, k0 = options(u1), options(u0)  # [4, G]
    k1 = np.repeat(k1, 4, axis=0)
    k0 = np.tile(k0, (4, 1))
    cells = np.broadcast_to(base, (16, *base.shape)).copy()
    cells[:, :, 1, 1] += k1
    cells[:, :, 1, 0] += u1 - k1
    cells[:, :, 0, 1] += k0
    cells[:, :, 0, 0] += u0 - k0
    return cells


def _min_max(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min and max over axis 0 ignoring ``nan`` (``nan`` where all are), without warnings."""
    defined = ~np.isnan(values)
    low = np.where(defined, values, np.inf).min(axis=0)
    high = np.where(defined, values, -np.inf).max(axis=0)
    anyd = defined.any(axis=0)
    return np.where(anyd, low, np.nan), np.where(anyd, high, np.nan)


def metric_intervals(
    codes: np.ndarray,
    n_groups: int,
    y: np.ndarray | None,
    decision: np.ndarray,
    can_pos: np.ndarray,
    can_neg: np.ndarray,
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per metric: ``(value, low, high)`` arrays over groups.

    ``decision`` is the current 0/1 decision; a row is free when it ``can_pos`` and
    ``can_neg``; otherwise it keeps its current decision. Without labels only the
    selection rate is defined.
    """
    labels = np.zeros_like(decision) if y is None else y.astype(np.int64)
    pred = decision.astype(np.int64)
    free = can_pos & can_neg
    base = _counts(codes, n_groups, labels, pred, ~free)
    u1 = np.bincount(codes[free & (labels == 1)], minlength=n_groups).astype(float)
    u0 = np.bincount(codes[free & (labels == 0)], minlength=n_groups).astype(float)
    now = Table(_counts(codes, n_groups, labels, pred, np.ones_like(free)))
    vertices = Table(_vertex_cells(base, u1, u0))
    names = LABEL_METRICS if y is not None else ("selection_rate",)
    out = {}
    for name in names:
        metric = BINARY_METRICS[name]
        with np.errstate(divide="ignore", invalid="ignore"):
            low, high = _min_max(metric.compute(vertices))
            out[name] = (metric.compute(now), low, high)
    return out


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _pair_rows(metric, value, low, high, labels, ref) -> list[dict]:
    rows = []
    for g, label in enumerate(labels):
        if g == ref:
            continue
        d_low, d_high = low[g] - high[ref], high[g] - low[ref]
        rows.append(dict(metric=metric, kind="difference", group=label, reference=labels[ref],
                         value=value[g] - value[ref], low=d_low, high=d_high,
                         exact=bool(np.isfinite(d_low) and np.isfinite(d_high))))
        r_high = high[g] / low[ref] if low[ref] > 0 else (np.inf if high[ref] > 0 else np.nan)
        r_low = _safe_ratio(np.array(low[g]), np.array(high[ref])).item()
        rows.append(dict(metric=metric, kind="ratio", group=label, reference=labels[ref],
                         value=_safe_ratio(np.array(value[g]), np.array(value[ref])).item(),
                         low=r_low, high=float(r_high),
                         exact=bool(low[ref] > 0 and np.isfinite(r_low))))
    return rows


def _spread_row(metric, value, low, high) -> dict:
    ok = ~np.isnan(low)
    v = value[~np.isnan(value)]
    lo_, hi_ = low[ok], high[ok]
    if lo_.size < 2:
        return dict(metric=metric, kind="between_groups_difference", group="(all)",
                    reference="(all)", value=np.nan, low=np.nan, high=np.nan, exact=False)
    pair = hi_[:, None] - lo_[None, :]
    np.fill_diagonal(pair, -np.inf)
    s_high = float(pair.max())
    s_low = max(0.0, float(lo_.max() - hi_.min()))
    exact = lo_.size == 2 and (lo_[0] - hi_[1] >= 0 or lo_[1] - hi_[0] >= 0)
    return dict(metric=metric, kind="between_groups_difference", group="(all)",
                reference="(all)", value=float(v.max() - v.min()) if v.size else np.nan,
                low=s_low, high=s_high, exact=bool(exact))


def disparity_table(
    intervals: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    labels: list[str],
    reference: int,
) -> pl.DataFrame:
    """Intervals of differences and ratios against ``reference`` and of the spread."""
    rows: list[dict] = []
    for metric, (value, low, high) in intervals.items():
        rows += _pair_rows(metric, value, low, high, labels, reference)
        rows.append(_spread_row(metric, value, low, high))
    schema = {"metric": pl.String, "kind": pl.String, "group": pl.String,
              "reference": pl.String, "value": pl.Float64, "low": pl.Float64,
              "high": pl.Float64, "exact": pl.Boolean}
    return pl.DataFrame(rows, schema=schema)
