r"""Fairness constraints ("moments") for the reductions approach (Agarwal et al. 2018, 2019).

A parity moment compares, for every *event* ``e`` (e.g. "y = 1") and group ``g``, the
conditional mean of a per-row quantity ``q`` (the prediction, or the error) with its mean
over the event:

.. math:: d_{e,g}(h) = E[q \mid e, g] - E[q \mid e],

and asks ``|d_{e,g}| ≤ ε``, written as the two one-sided constraints ``d - ε ≤ 0`` ("+")
and ``-d - ε ≤ 0`` ("-"). Every such ``d`` is linear in the predictions, which is what
turns the Lagrangian's best response into one weighted (cost-sensitive) fit.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from evenhand._core._errors import EvenhandError
from evenhand.mitigate._validation import require_both_classes

__all__ = [
    "BoundedGroupLoss",
    "DemographicParity",
    "EqualizedOdds",
    "ErrorRateParity",
    "FalsePositiveRateParity",
    "Moment",
    "TruePositiveRateParity",
]


class Moment:
    """Base class of the constraints; subclasses only say which events they compare.

    Parameters
    ----------
    difference_bound : float or None
        The allowed violation ``ε``; ``None`` uses the reduction's ``eps``.
    """

    _events: str = "all"  # "all", "label", "positive", "negative"
    _quantity: str = "prediction"  # or "error"
    _needs_both_classes = False
    is_classification = True

    def __init__(self, difference_bound: float | None = None) -> None:
        self.difference_bound = difference_bound

    def __repr__(self) -> str:
        return f"{type(self).__name__}(difference_bound={self.difference_bound!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((type(self).__name__, *sorted(vars(self).items())))

    def _prepare(
        self, y: np.ndarray, codes: np.ndarray, labels: np.ndarray, classes: np.ndarray | None,
        weight: np.ndarray, eps: float,
    ) -> _ParityState | _LossState:
        if self._needs_both_classes:
            # parity moments are classification constraints: fit passes the two class labels
            assert classes is not None
            require_both_classes(
                codes, labels, y, classes, owner="the reduction", what=type(self).__name__
            )
        bound = eps if self.difference_bound is None else float(self.difference_bound)
        event = {
            "all": np.zeros(len(y), dtype=np.intp),
            "label": y.astype(np.intp),
            "positive": np.where(y == 1, 0, -1),
            "negative": np.where(y == 0, 0, -1),
        }[self._events]
        return _ParityState(y, codes, len(labels), event, weight, bound, self._quantity)


class DemographicParity(Moment):
    r"""Equal selection rates: :math:`P(\hat y = 1 \mid A = g) = P(\hat y = 1)` for all g.

    Examples
    --------
    >>> from evenhand.mitigate import DemographicParity
    >>> DemographicParity(difference_bound=0.02)
    DemographicParity(difference_bound=0.02)
    """


class EqualizedOdds(Moment):
    r"""Equal TPR and FPR: :math:`P(\hat y = 1 \mid A = g, Y = y) = P(\hat y = 1 \mid Y = y)`.

    Every group needs both classes.

    Examples
    --------
    >>> from evenhand.mitigate import EqualizedOdds
    >>> EqualizedOdds()
    EqualizedOdds(difference_bound=None)
    """

    _events = "label"
    _needs_both_classes = True


class TruePositiveRateParity(Moment):
    r"""Equal TPR (equal opportunity): :math:`P(\hat y=1 \mid A=g, Y=1) = P(\hat y=1 \mid Y=1)`.

    Examples
    --------
    >>> from evenhand.mitigate import TruePositiveRateParity
    >>> TruePositiveRateParity(0.05).difference_bound
    0.05
    """

    _events = "positive"
    _needs_both_classes = True


class FalsePositiveRateParity(Moment):
    r"""Equal FPR: :math:`P(\hat y = 1 \mid A = g, Y = 0) = P(\hat y = 1 \mid Y = 0)`.

    Examples
    --------
    >>> from evenhand.mitigate import FalsePositiveRateParity
    >>> FalsePositiveRateParity(0.05).difference_bound
    0.05
    """

    _events = "negative"
    _needs_both_classes = True


class ErrorRateParity(Moment):
    r"""Equal error rates: :math:`P(\hat y \ne Y \mid A = g) = P(\hat y \ne Y)`.

    Examples
    --------
    >>> from evenhand.mitigate import ErrorRateParity
    >>> ErrorRateParity(0.05).difference_bound
    0.05
    """

    _quantity = "error"


class _ParityState:
    """A parity moment bound to training data: gamma, bound and best-response costs."""

    def __init__(
        self, y: np.ndarray, codes: np.ndarray, n_groups: int, event: np.ndarray,
        weight: np.ndarray, bound: float, quantity: str,
    ) -> None:
        self.y, self.weight, self.quantity = y.astype(float), weight, quantity
        self.n_groups = n_groups
        self.n_events = int(event.max()) + 1
        inside = event >= 0
        self.rows = np.flatnonzero(inside)
        self.cell = event[inside] * n_groups + codes[inside]
        n_cells = self.n_events * n_groups
        self.cell_weight = np.bincount(self.cell, weight[inside], minlength=n_cells)
        self.event_of_cell = np.repeat(np.arange(self.n_events), n_groups)
        self.event_weight = np.bincount(self.event_of_cell, self.cell_weight)
        self.total_weight = weight.sum()
        self.n_cells = n_cells
        self.bound = np.full(2 * n_cells, bound)

    def _quantity(self, pred: np.ndarray) -> np.ndarray:
        if self.quantity == "error":
            return pred + self.y - 2 * pred * self.y
        return pred

    def raw(self, pred: np.ndarray) -> np.ndarray:
        """Signed differences ``d`` per (event, group) cell."""
        q = self._quantity(pred)[self.rows] * self.weight[self.rows]
        sums = np.bincount(self.cell, q, minlength=self.n_cells)
        with np.errstate(invalid="ignore", divide="ignore"):
            cell_mean = np.where(self.cell_weight > 0, sums / self.cell_weight, 0.0)
            event_mean = np.bincount(self.event_of_cell, sums) / self.event_weight
        diff = cell_mean - event_mean[self.event_of_cell]
        return np.where(self.cell_weight > 0, diff, 0.0)

    def gamma(self, pred: np.ndarray) -> np.ndarray:
        """Constraint values (``+`` half then ``-`` half); feasible when ≤ ``bound``."""
        d = self.raw(pred)
        return np.concatenate((d, -d))

    def error(self, pred: np.ndarray) -> float:
        """Weighted expected error of predictions (probabilities allowed)."""
        return float(np.dot(self.weight, pred + self.y - 2 * pred * self.y) / self.total_weight)

    def costs(self, lam: np.ndarray) -> np.ndarray:
        """Per-row coefficient ``a_i`` of ``h_i`` in error + λ·gamma (minimise Σ a_i h_i)."""
        mu = lam[: self.n_cells] - lam[self.n_cells :]
        with np.errstate(invalid="ignore", divide="ignore"):
            per_cell = np.where(self.cell_weight > 0, mu / self.cell_weight, 0.0)
        per_event = np.bincount(self.event_of_cell, mu) / self.event_weight
        coef = np.zeros(len(self.y))
        coef[self.rows] = self.weight[self.rows] * (
            per_cell[self.cell] - per_event[self.event_of_cell[self.cell]]
        )
        if self.quantity == "error":
            coef *= 1 - 2 * self.y
        return coef + self.weight * (1 - 2 * self.y) / self.total_weight

    def best_response_problem(self, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels and weights of the cost-sensitive fit minimising the Lagrangian."""
        a = self.costs(lam)
        target = (a < 0).astype(int)
        size = np.abs(a)
        total = size.sum()
        # scaled to the total sample weight, so weights and repeated rows fit alike
        if total <= 0:
            return target, self.weight.copy()
        return target, self.total_weight * size / total

    def project(self, lam: np.ndarray) -> np.ndarray:
        """Cancel opposite multipliers of a +/- pair (same Lagrangian term, smaller bound)."""
        mu = lam[: self.n_cells] - lam[self.n_cells :]
        return np.concatenate((np.maximum(mu, 0), np.maximum(-mu, 0)))

    def basis_dimension(self) -> int:
        """Free signed multipliers for grid search: one per cell except each event's first."""
        return self.n_events * (self.n_groups - 1)

    def lam_from_grid(self, point: np.ndarray) -> np.ndarray:
        """Map a signed grid point (first group of each event fixed at 0) to ``λ ≥ 0``."""
        mu = np.zeros((self.n_events, self.n_groups))
        mu[:, 1:] = point.reshape(self.n_events, self.n_groups - 1)
        flat = mu.ravel()
        return np.concatenate((np.maximum(flat, 0), np.maximum(-flat, 0)))


_LOSSES = ("squared_error", "absolute_error", "zero_one")


class BoundedGroupLoss(Moment):
    r"""Every group's mean loss at most a bound: :math:`E[\ell(h(X), Y) \mid A = g] \le \zeta`.

    For regression (or classification with ``loss="zero_one"``). The best response is a
    fit of ``y`` with row weights :math:`w_i (1/W + \lambda_{g(i)} / W_{g(i)})`, so the
    estimator must minimise the same ``loss``.

    Parameters
    ----------
    loss : {"squared_error", "absolute_error", "zero_one"}
        The per-row loss.
    upper_bound : float
        The bound ζ on each group's mean loss (must be ≥ 0).

    Examples
    --------
    >>> from evenhand.mitigate import BoundedGroupLoss
    >>> BoundedGroupLoss(loss="squared_error", upper_bound=0.1)
    BoundedGroupLoss(loss='squared_error', upper_bound=0.1)
    """

    is_classification = False

    def __init__(
        self,
        loss: Literal["squared_error", "absolute_error", "zero_one"] = "squared_error",
        upper_bound: float = 0.1,
    ) -> None:
        self.loss = loss
        self.upper_bound = upper_bound

    def __repr__(self) -> str:
        return f"BoundedGroupLoss(loss={self.loss!r}, upper_bound={self.upper_bound!r})"

    def _prepare(
        self, y: np.ndarray, codes: np.ndarray, labels: np.ndarray, classes: Any,
        weight: np.ndarray, eps: float,
    ) -> _LossState:
        if self.loss not in _LOSSES:
            raise EvenhandError(
                f"The 'loss' parameter of BoundedGroupLoss must be one of {set(_LOSSES)}. "
                f"Got {self.loss!r} instead."
            )
        if not np.isfinite(self.upper_bound) or self.upper_bound < 0:
            raise EvenhandError(
                "The 'upper_bound' parameter of BoundedGroupLoss must be a finite number "
                f"≥ 0; got {self.upper_bound!r}."
            )
        return _LossState(np.asarray(y, float), codes, len(labels), weight, self)


class _LossState:
    """BoundedGroupLoss bound to training data."""

    def __init__(
        self, y: np.ndarray, codes: np.ndarray, n_groups: int, weight: np.ndarray,
        moment: BoundedGroupLoss,
    ) -> None:
        self.y, self.codes, self.weight, self.loss = y, codes, weight, moment.loss
        self.n_groups = n_groups
        self.group_weight = np.bincount(codes, weight, minlength=n_groups)
        self.total_weight = weight.sum()
        self.bound = np.full(n_groups, float(moment.upper_bound))

    def _loss(self, pred: np.ndarray) -> np.ndarray:
        if self.loss == "squared_error":
            return (pred - self.y) ** 2
        if self.loss == "absolute_error":
            return np.abs(pred - self.y)
        return pred + self.y - 2 * pred * self.y  # expected 0-1 loss of P(h = 1)

    def gamma(self, pred: np.ndarray) -> np.ndarray:
        """Each group's weighted mean loss."""
        sums = np.bincount(self.codes, self.weight * self._loss(pred), minlength=self.n_groups)
        return sums / self.group_weight

    def raw(self, pred: np.ndarray) -> np.ndarray:
        """Each group's loss minus the bound (positive means violated)."""
        return self.gamma(pred) - self.bound

    def error(self, pred: np.ndarray) -> float:
        """Overall weighted mean loss."""
        return float(np.dot(self.weight, self._loss(pred)) / self.total_weight)

    def best_response_problem(self, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Target ``y`` and the Lagrangian row weights."""
        w = self.weight * (1 / self.total_weight + lam[self.codes] / self.group_weight[self.codes])
        return self.y, self.total_weight * w / w.sum()

    def project(self, lam: np.ndarray) -> np.ndarray:
        """One-sided constraints: nothing to cancel."""
        return lam

    def basis_dimension(self) -> int:
        """One non-negative multiplier per group."""
        return self.n_groups

    def lam_from_grid(self, point: np.ndarray) -> np.ndarray:
        """Grid points are used as they are (they are non-negative)."""
        return np.abs(point)
