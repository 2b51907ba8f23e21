"""What slice finding ranks by, its upper bounds for pruning, and per-slice statistics.

Notation: ``n`` rows with non-negative losses ``e_i``, overall mean error
``ē = Σ e_i / n``. A slice ``S`` has size ``|S|``, error sum ``se = Σ_{i∈S} e_i``,
mean error ``ē_S = se / |S|`` and largest error ``sm = max_{i∈S} e_i``.

* ``score`` (SliceLine, Sagadeeva & Boehm, SIGMOD 2021):
  ``α (ē_S / ē − 1) − (1 − α) (n / |S| − 1)``.
* ``lift``: ``ē_S / ē``.
* ``significance``: ``−log p`` of a one-sided test that the slice's mean error exceeds
  the mean error of the other rows (pooled two-proportion z-test for 0/1 losses,
  Welch's t-test otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

__all__ = [
    "Family",
    "Objective",
    "bonferroni_adjust",
    "error_interval",
    "holm_adjust",
    "one_sided_pvalue",
    "one_sided_statistic",
]

RankBy = Literal["score", "lift", "significance"]
CiMethod = Literal["auto", "bootstrap"]
Correction = Literal["bonferroni", "holm"]


@dataclass(frozen=True)
class Objective:
    """The ranking criterion of a search, with the totals it needs."""

    rank_by: RankBy
    alpha: float
    n: int
    total_error: float
    total_square: float
    min_support: int
    binary: bool

    @property
    def mean_error(self) -> float:
        """Overall mean error ``ē``."""
        return self.total_error / self.n

    @property
    def floor(self) -> float:
        """A slice is reported only if its value is strictly above this.

        ``score > 0`` as in SliceLine; ``lift > 1``; ``p < 0.5`` (the slice errs more
        than the rest) for significance.
        """
        return {"score": 0.0, "lift": 1.0, "significance": float(np.log(2.0))}[self.rank_by]

    def lift(self, size: np.ndarray, error_sum: np.ndarray) -> np.ndarray:
        """Return ``ē_S / ē``, as ``se · n / (|S| · Σ e)`` so the whole data gives exactly 1."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return (error_sum * self.n) / (size * self.total_error)

    def score(self, size: np.ndarray, error_sum: np.ndarray) -> np.ndarray:
        """SliceLine score; ``-inf`` for empty slices."""
        with np.errstate(divide="ignore", invalid="ignore"):
            value = self.alpha * (self.lift(size, error_sum) - 1.0) - (1.0 - self.alpha) * (
                self.n / size - 1.0
            )
        return np.where(size > 0, value, -np.inf)

    def value(
        self, size: np.ndarray, error_sum: np.ndarray, square_sum: np.ndarray | None
    ) -> np.ndarray:
        """Return the ranking value of slices given their sizes and error sums (and squares).

        A slice holding every row is the whole model, not a subgroup: its value is the
        floor, so it is never reported (rounding could otherwise lift it above).
        """
        if self.rank_by == "score":
            value = self.score(size, error_sum)
        elif self.rank_by == "lift":
            value = np.where(size > 0, self.lift(size, error_sum), -np.inf)
        else:
            value = -one_sided_pvalue(self, size, error_sum, square_sum, log=True)
        return np.where(size >= self.n, self.floor, value)

    def upper_bound(
        self, size_ub: np.ndarray, error_ub: np.ndarray, max_ub: np.ndarray
    ) -> np.ndarray:
        """Largest value any sub-slice can reach, given bounds from its parents.

        A sub-slice of size ``s ≥ σ`` (``σ`` = ``min_support``) under parents of sizes,
        error sums and largest errors ``ss``, ``se``, ``sm`` (each the minimum over the
        parents) has ``s ≤ ss`` and an error sum at most ``min(se, s · sm)``. For the
        score this maximum over ``s ∈ [σ, ss]`` is attained at ``σ``, ``ss`` or the kink
        ``se / sm`` (clipped into the interval): the function increases up to the kink
        and is monotone after it (SliceLine's size-and-error bounds). For the lift it is
        ``min(sm, se / σ) / ē``. Significance has no useful bound: ``+inf``.
        """
        if self.rank_by == "significance":
            return np.full(size_ub.shape, np.inf)
        sigma = float(self.min_support)
        if self.rank_by == "lift":
            return np.minimum(max_ub, error_ub / sigma) / self.mean_error
        upper = np.maximum(size_ub, sigma)
        with np.errstate(divide="ignore", invalid="ignore"):
            kink = np.clip(np.where(max_ub > 0, error_ub / max_ub, sigma), sigma, upper)
        best = np.full(size_ub.shape, -np.inf)
        for s in (np.full(size_ub.shape, sigma), upper, kink):
            best = np.maximum(best, self.score(s, np.minimum(error_ub, s * max_ub)))
        return best


def one_sided_statistic(
    objective: Objective,
    size: np.ndarray,
    error_sum: np.ndarray,
    square_sum: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Statistic of the one-sided test below, and its degrees of freedom (``None``: normal).

    Slices whose p-value is fixed get an infinite statistic: ``-inf`` (``p = 1``) for a
    slice covering every row, an undefined statistic (empty slice), or zero variance on
    both sides with a slice mean not above the rest; ``+inf`` (``p = 0``) for zero
    variance with a higher slice mean.
    """
    size = np.asarray(size, dtype=float)
    rest = objective.n - size
    rest_error = objective.total_error - error_sum
    dof = None
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = error_sum / size - rest_error / rest
        if objective.binary:
            p = objective.mean_error
            spread = np.sqrt(p * (1.0 - p) * (1.0 / size + 1.0 / rest))
            statistic = diff / spread
        else:
            assert square_sum is not None
            rest_square = objective.total_square - square_sum
            var_s = np.maximum(square_sum - error_sum**2 / size, 0.0) / (size - 1.0)
            var_r = np.maximum(rest_square - rest_error**2 / rest, 0.0) / (rest - 1.0)
            a, b = var_s / size, var_r / rest
            statistic = diff / np.sqrt(a + b)
            dof = (a + b) ** 2 / (a**2 / (size - 1.0) + b**2 / (rest - 1.0))
            statistic = np.where(a + b == 0, np.where(diff > 0, np.inf, -np.inf), statistic)
    statistic = np.where((rest <= 0) | np.isnan(statistic), -np.inf, statistic)
    return statistic, dof


def _log_sf(statistic: np.ndarray, dof: np.ndarray | None) -> np.ndarray:
    """Log of the upper tail of the statistic; 0 where it is undefined (``p = 1``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        result = stats.norm.logsf(statistic) if dof is None else stats.t.logsf(statistic, dof)
    result = np.where(np.isinf(statistic), np.where(statistic > 0, -np.inf, 0.0), result)
    return np.where(np.isnan(result), 0.0, result)


def one_sided_pvalue(
    objective: Objective,
    size: np.ndarray,
    error_sum: np.ndarray,
    square_sum: np.ndarray | None,
    *,
    log: bool = False,
) -> np.ndarray:
    """P-value (or its log) of "the slice's mean error exceeds that of the other rows".

    0/1 losses: pooled two-proportion z-test,
    ``z = (p_S − p_R) / sqrt(p (1 − p) (1/|S| + 1/|R|))`` with ``R`` the other rows and
    ``p`` the overall error rate. Other losses: Welch's t-test with Welch–Satterthwaite
    degrees of freedom (``square_sum`` holds the slice's sums of squared losses).
    A slice covering every row, or one where both sides have zero variance and equal
    means, gets ``p = 1``; zero variance with a higher slice mean gets ``p = 0``.
    """
    result = _log_sf(*one_sided_statistic(objective, size, error_sum, square_sum))
    return result if log else np.exp(result)


@dataclass
class Family:
    """The test statistics of every evaluated slice: the multiple-testing family.

    Statistics (and degrees of freedom) are stored rather than p-values because the
    tail function, not the statistic, is the costly part; :meth:`pvalues` evaluates it
    only where it can matter.
    """

    statistic: list[np.ndarray]
    dof: list[np.ndarray]

    def add(self, statistic: np.ndarray, dof: np.ndarray | None) -> None:
        """Append the statistics of a batch of evaluated slices."""
        self.statistic.append(statistic)
        if dof is not None:
            self.dof.append(dof)

    @property
    def size(self) -> int:
        """Number of slices in the family, ``m``."""
        return sum(s.size for s in self.statistic)

    def pvalues(self, up_to: float) -> np.ndarray:
        """Return the family's p-values, exact wherever ``p ≤ up_to``; 1 elsewhere.

        Holm's value of a p-value ``q ≤ up_to`` only needs the exact members below
        ``q`` (and ``m``); a member above ``up_to`` replaced by 1 stays above ``q``. For
        ``up_to < 1/2`` a member can be below ``up_to`` only if its statistic reaches the
        normal quantile ``Φ̄⁻¹(up_to) > 0``, since Student's t has a heavier upper tail
        than the normal; the tail function runs on those members only (on all members
        when ``up_to ≥ 1/2``).
        """
        statistic = np.concatenate(self.statistic) if self.statistic else np.empty(0)
        dof = np.concatenate(self.dof) if self.dof else None
        near = np.arange(statistic.size)
        if up_to < 0.5:
            # clipped: beyond 37 the normal tail underflows; slack keeps borderline members
            bar = min(float(stats.norm.isf(up_to)), 37.0)
            near = np.flatnonzero(statistic >= bar * (1.0 - 1e-6))
        out = np.ones(statistic.size)
        out[near] = np.exp(_log_sf(statistic[near], None if dof is None else dof[near]))
        return out


def bonferroni_adjust(p: np.ndarray, m: int) -> np.ndarray:
    """Bonferroni-adjusted p-values ``min(1, m · p)`` in a family of ``m`` tests."""
    return np.minimum(1.0, m * np.asarray(p, dtype=float))


def holm_adjust(p: np.ndarray, family: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values of ``p``, members of the family ``family``.

    With the family's ``m`` raw p-values sorted, ``p_(1) ≤ … ≤ p_(m)``, the adjusted
    value of ``p_(i)`` is ``max_{j ≤ i} min(1, (m − j + 1) p_(j))`` (Holm, 1979). Ties
    share the value of their first rank. A member of ``p`` is ranked after the family
    members strictly below it, so a value recomputed from a slice's rows that differs
    from its family copy by rounding still gets (to rounding) its Holm value.
    """
    p = np.asarray(p, dtype=float)
    ordered = np.sort(family)
    m = ordered.size
    running = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * ordered))
    below = np.searchsorted(ordered, p, side="left")  # family members strictly smaller
    prior = np.where(below > 0, running[np.maximum(below - 1, 0)], 0.0)
    return np.maximum(prior, np.minimum(1.0, (m - below) * p))


def _bootstrap_means(
    losses: np.ndarray, binary: bool, rng: np.random.Generator, n_boot: int
) -> np.ndarray:
    """Means of ``n_boot`` resamples of the rows, with replacement.

    For 0/1 losses the number of errors in a resample of ``m`` rows is exactly
    ``Binomial(m, p̂)``, so no row is drawn; otherwise rows are drawn in batches.
    """
    m = losses.size
    if binary:
        return rng.binomial(m, losses.mean(), size=n_boot) / m
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // m)  # bounds the memory of one batch of resamples
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        means[start:stop] = losses[rng.integers(0, m, size=(stop - start, m))].mean(axis=1)
    return means


def error_interval(
    losses: np.ndarray,
    *,
    binary: bool,
    confidence: float,
    method: CiMethod,
    rng: np.random.Generator,
    n_boot: int,
) -> tuple[float, float]:
    """Interval for a slice's mean error.

    ``method="auto"``: Wilson score interval for 0/1 losses,
    ``p̂ + z²/2m ± z sqrt(p̂(1−p̂)/m + z²/4m²)`` over ``1 + z²/m``; Student-t interval
    ``ē_S ± t_{m−1} s / sqrt(m)`` otherwise (``nan`` when ``m < 2``).
    ``method="bootstrap"``: percentile interval of ``n_boot`` row resamples (drawn as
    one binomial count per resample for 0/1 losses, which is the same distribution).
    """
    m = losses.size
    if m == 0:
        return (np.nan, np.nan)
    tail = (1.0 - confidence) / 2.0
    if method == "bootstrap":
        low, high = np.quantile(_bootstrap_means(losses, binary, rng, n_boot), [tail, 1 - tail])
        return (float(low), float(high))
    mean = float(losses.mean())
    if binary:
        z = float(stats.norm.isf(tail))
        centre = (mean + z * z / (2 * m)) / (1 + z * z / m)
        half = z * np.sqrt(mean * (1 - mean) / m + z * z / (4 * m * m)) / (1 + z * z / m)
        return (float(centre - half), float(centre + half))
    if m < 2:
        return (np.nan, np.nan)
    half = float(stats.t.isf(tail, m - 1)) * float(losses.std(ddof=1)) / np.sqrt(m)
    return (mean - half, mean + half)
