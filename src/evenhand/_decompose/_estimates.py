"""Labelled estimate vectors and their bootstrap replicates, shared by the decomposition methods.

Each method returns one :class:`Estimates`: a flat vector of every reported quantity (group
means, gap, component totals, per-factor and per-variable contributions), its bootstrap
replicates (one row per replicate, so intervals of *sums* such as factor totals come from the
replicates of the sums, never from adding intervals), and optionally delta-method standard
errors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Estimates",
    "Label",
    "bootstrap_replicates",
    "explained_labels",
    "interval",
    "single_threaded_blas",
    "stratified_indices",
    "weighted_mean",
]


@dataclass(frozen=True)
class Label:
    """What one entry of an estimate vector is.

    ``kind`` is ``"mean"`` (a group mean; ``name`` is the group), ``"gap"``, ``"total"``
    (a component total), ``"factor"`` (``name`` is the factor group) or ``"variable"``
    (``name`` is the input column, ``level`` its category or ``None``).
    """

    component: str
    kind: str
    name: Any = None
    factor: str | None = None
    level: Any = None


@dataclass
class Estimates:
    """Point estimates with optional bootstrap replicates and delta-method standard errors."""

    labels: list[Label]
    value: np.ndarray
    boot: np.ndarray | None = None
    delta_se: np.ndarray | None = None

    def index(self, component: str, kind: str, name: Any = None) -> int:
        """Position of the entry with this component, kind and name."""
        for i, lab in enumerate(self.labels):
            if lab.component == component and lab.kind == kind and lab.name == name:
                return i
        raise KeyError((component, kind, name))


def interval(est: Estimates, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(se, ci_low, ci_high)`` for every entry.

    Percentile bootstrap intervals and the replicates' standard deviation when replicates
    exist (replicates with a non-finite entry are left out); otherwise normal intervals
    ``value ± z·se`` from the delta-method standard errors; otherwise ``nan``.
    """
    from scipy.stats import norm

    k = est.value.shape[0]
    if est.boot is not None and est.boot.shape[0] > 1:
        # a replicate whose regression is singular (a rare category not drawn) is nan: skip it
        boot = est.boot[np.all(np.isfinite(est.boot), axis=1)]
        alpha = (1.0 - level) / 2.0
        lo, hi = np.quantile(boot, [alpha, 1.0 - alpha], axis=0)
        return np.std(boot, axis=0, ddof=1), lo, hi
    if est.delta_se is not None:
        zq = norm.ppf(0.5 + level / 2.0)
        return est.delta_se, est.value - zq * est.delta_se, est.value + zq * est.delta_se
    nan = np.full(k, np.nan)
    return nan, nan.copy(), nan.copy()


def single_threaded_blas() -> Any:
    """Context limiting BLAS to one thread (no-op without threadpoolctl).

    The decompositions run many thin matrix products (8192 × 77 blocks, p × p normal
    equations). Measured on the 2-core development machine, multithreaded OpenBLAS made the
    Oaxaca bootstrap 4-6 times slower in wall and CPU time than one thread.
    """
    try:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn
    except ImportError:  # pragma: no cover - depends on the environment
        from contextlib import nullcontext

        return nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def weighted_mean(x: np.ndarray, w: np.ndarray | None) -> float:
    """Mean of ``x``, weighted by ``w`` (plain mean when ``w`` is ``None``)."""
    return float(np.mean(x)) if w is None else float(np.average(x, weights=w))


def stratified_indices(in_b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Row indices of one bootstrap replicate, resampling each group with its size fixed."""
    out = []
    for flag in (False, True):
        rows = np.flatnonzero(in_b == flag)
        out.append(rows[rng.integers(0, rows.size, size=rows.size)])
    return np.concatenate(out)


def bootstrap_replicates(
    in_b: np.ndarray,
    n_boot: int,
    width: int,
    rng: np.random.Generator,
    estimate: Callable[[np.ndarray], np.ndarray],
    skip: type[Exception],
) -> np.ndarray:
    """``n_boot`` rows of ``estimate(rows)`` over stratified replicates of the rows.

    A replicate whose estimate raises ``skip`` (no convergence, no overlap) stays ``nan`` and
    is left out of the intervals.
    """
    boot = np.full((n_boot, width), np.nan)
    for r in range(n_boot):
        rows = stratified_indices(in_b, rng)
        try:
            boot[r] = estimate(rows)
        except skip:
            continue
    return boot


def explained_labels(groups: Sequence[Any], factor_names: Sequence[str]) -> list[Label]:
    """Group means, gap, the explained total and one explained entry per factor group."""
    a, b = groups
    labels = [
        Label("mean", "mean", a),
        Label("mean", "mean", b),
        Label("gap", "gap"),
        Label("explained", "total"),
    ]
    labels += [Label("explained", "factor", f, f) for f in factor_names]
    return labels
