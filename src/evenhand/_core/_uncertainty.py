"""Confidence intervals and tests used by every evenhand result.

Analytic intervals (vectorised over any leading shape):

- :func:`wilson` — Wilson score interval for a proportion ``x / n``.
- :func:`newcombe` — Newcombe's hybrid score interval (method 10 of Newcombe 1998) for a
  difference of two independent proportions ``p1 - p2``, built from the two Wilson intervals.
- :func:`katz` — Katz et al. (1978) log interval for a ratio of two independent proportions
  ``p1 / p2``.

Simultaneous intervals for the between-groups spread (``max - min`` and ``min / max``) are
built from pairwise intervals at a Bonferroni-corrected level (analytic) or from a bootstrap
max-|t| band (bootstrap), so they keep their coverage when every group is equal — unlike a
percentile bootstrap of ``max - min``, which can never cover a true spread of 0.

With sample weights, proportions are weighted and ``n`` is Kish's effective sample size
``(sum w)^2 / sum w^2``; with unit weights this is the plain count.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

__all__ = [
    "chi2_homogeneity",
    "chi2_pvalue",
    "katz",
    "newcombe",
    "normal_quantile",
    "spread_interval_from_pairs",
    "wald_homogeneity",
    "wilson",
]


def normal_quantile(level: float) -> float:
    """Return the two-sided standard-normal critical value for confidence ``level``."""
    return float(stats.norm.ppf(0.5 + level / 2.0))


def wilson(x: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``x / n`` with critical value ``z``.

    ``(p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)``. Where ``n == 0`` the
    bounds are ``nan``. At ``x == 0`` (``x == n``) the lower (upper) bound is exactly 0 (1).
    """
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        z2 = z * z
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = z * np.sqrt(np.clip(p * (1 - p) / n + z2 / (4 * n * n), 0, None)) / (1 + z2 / n)
    low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    low = np.where((n > 0) & (x <= 0), 0.0, low)
    high = np.where((n > 0) & (x >= n), 1.0, high)
    return low, high


def newcombe(
    x1: np.ndarray, n1: np.ndarray, x2: np.ndarray, n2: np.ndarray, z: float
) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for ``x1/n1 - x2/n2`` (independent samples).

    ``low = d - sqrt((p1 - l1)² + (u2 - p2)²)``, ``high = d + sqrt((u1 - p1)² + (p2 - l2)²)``
    where ``(l_i, u_i)`` are the Wilson intervals. ``nan`` where either ``n`` is 0.
    """
    x1, n1, x2, n2 = (np.asarray(a, dtype=float) for a in (x1, n1, x2, n2))
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return low, high


def katz(
    x1: np.ndarray, n1: np.ndarray, x2: np.ndarray, n2: np.ndarray, z: float
) -> tuple[np.ndarray, np.ndarray]:
    """Katz log interval for the ratio ``(x1/n1) / (x2/n2)``.

    ``exp(log(r) ± z sqrt(1/x1 - 1/n1 + 1/x2 - 1/n2))``. When a numerator count is 0 the
    log ratio is undefined; 0.5 is then added to both counts of that proportion (the usual
    Haldane correction), so the interval stays finite. ``nan`` where a denominator is 0 or
    both numerators are 0.
    """
    x1, n1, x2, n2 = (np.asarray(a, dtype=float) for a in (x1, n1, x2, n2))
    valid = (n1 > 0) & (n2 > 0) & ((x1 > 0) | (x2 > 0))
    c1 = np.where(x1 == 0, 0.5, 0.0)
    c2 = np.where(x2 == 0, 0.5, 0.0)
    a1, m1, a2, m2 = x1 + c1, n1 + c1, x2 + c2, n2 + c2
    with np.errstate(divide="ignore", invalid="ignore"):
        log_r = np.log((a1 / m1) / (a2 / m2))
        se = np.sqrt(np.clip(1 / a1 - 1 / m1 + 1 / a2 - 1 / m2, 0, None))
        low = np.where(valid, np.exp(log_r - z * se), np.nan)
        high = np.where(valid, np.exp(log_r + z * se), np.nan)
    return low, high


def spread_interval_from_pairs(
    diff_low: np.ndarray,
    diff_high: np.ndarray,
    ratio_low: np.ndarray,
    ratio_high: np.ndarray,
) -> tuple[float, float, float, float]:
    """Turn simultaneous intervals for every pair of groups into spread intervals.

    For each unordered pair ``i < j`` (1-D arrays, one entry per pair), ``diff_*`` bound
    ``m_i - m_j`` and ``ratio_*`` bound ``m_i / m_j``, jointly at the wanted level; the
    reversed pair is bounded by ``[-diff_high, -diff_low]`` and ``[1 / ratio_high,
    1 / ratio_low]``. Since ``max - min = max_ij |m_i - m_j|`` and
    ``min / max = min_ij m_i / m_j`` over ordered pairs, monotonicity gives intervals for
    both spreads with at least the joint coverage. ``nan`` entries (pairs without an interval)
    are skipped. Returns ``(diff_low, diff_high, ratio_low, ratio_high)``.
    """
    dl, dh = np.asarray(diff_low, dtype=float), np.asarray(diff_high, dtype=float)
    if dl.size == 0 or np.all(np.isnan(dl)):
        return (np.nan,) * 4
    # distance of each pairwise interval from 0 is a lower bound for |m_i - m_j|
    dist = np.where(dl > 0, dl, np.where(dh < 0, -dh, 0.0))
    d_low = float(np.nanmax(dist))
    d_high = float(np.nanmax(np.maximum(np.abs(dl), np.abs(dh))))
    rl, rh = np.asarray(ratio_low, dtype=float), np.asarray(ratio_high, dtype=float)
    if np.all(np.isnan(rl)):
        return d_low, d_high, np.nan, np.nan
    with np.errstate(divide="ignore"):
        r_low = float(min(np.nanmin(rl), np.nanmin(1 / rh), 1.0))
        r_high = float(min(np.nanmin(rh), np.nanmin(1 / rl), 1.0))
    return d_low, d_high, r_low, r_high


def chi2_homogeneity(x: np.ndarray, n: np.ndarray) -> tuple[float, int]:
    """Pearson's chi-square statistic that the proportions ``x / n`` are all equal.

    Returns ``(statistic, degrees_of_freedom)``; the p-value is
    ``scipy.stats.chi2.sf(statistic, df)``. Groups with ``n == 0`` are left out. With fewer
    than two groups the result is ``(nan, 0)``; when every proportion is 0 or every one is 1
    there is no variation to test and the statistic is 0.
    """
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    keep = n > 0
    x, n = x[keep], n[keep]
    if x.size < 2:
        return float("nan"), 0
    p = x.sum() / n.sum()
    if p <= 0 or p >= 1:
        return 0.0, x.size - 1
    expected_pos, expected_neg = n * p, n * (1 - p)
    chi2 = (x - expected_pos) ** 2 / expected_pos + ((n - x) - expected_neg) ** 2 / expected_neg
    return float(chi2.sum()), x.size - 1


def chi2_pvalue(statistic: float, df: int) -> float:
    """Upper-tail chi-square p-value (``nan`` for ``df == 0``)."""
    if df <= 0 or not np.isfinite(statistic):
        return float("nan")
    return float(special.chdtrc(df, statistic))  # chi2.sf without scipy.stats' overhead


def wald_homogeneity(values: np.ndarray, variances: np.ndarray) -> tuple[float, int]:
    """Wald statistic that independent group estimates share one value.

    ``W = sum_g (m_g - m̄)² / v_g`` with the inverse-variance weighted mean ``m̄``; returns
    ``(W, G - 1)``, referred to chi-square with ``G - 1`` degrees of freedom (p-value:
    :func:`chi2_pvalue`). Groups whose estimate or variance is not finite, or whose variance
    is 0, are left out; with fewer than two groups left the result is ``(nan, 0)``.
    """
    values = np.asarray(values, dtype=float)
    variances = np.asarray(variances, dtype=float)
    keep = np.isfinite(values) & np.isfinite(variances) & (variances > 0)
    values, variances = values[keep], variances[keep]
    if values.size < 2:
        return float("nan"), 0
    weights = 1.0 / variances
    mean = np.sum(weights * values) / weights.sum()
    return float(np.sum(weights * (values - mean) ** 2)), int(values.size - 1)
