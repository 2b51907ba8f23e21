"""In-processing by grid search (Agarwal et al. 2018): one best response, chosen on a grid."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted, check_random_state

from evenhand._core._errors import EvenhandError
from evenhand.mitigate._moments import Moment
from evenhand.mitigate._reductions import Reduction, unit_vector
from evenhand.mitigate._validation import copy_n_features_in

__all__ = ["GridSearch"]


class GridSearch(Reduction):
    r"""Deterministic model chosen from best responses to a grid of Lagrange multipliers.

    For each grid point :math:`\lambda` the base estimator is fitted once to minimise
    :math:`\mathrm{err}(h) + \lambda^\top \gamma(h)` (Agarwal et al. 2018, 2019). The
    returned model minimises
    :math:`(1 - w)\,\mathrm{err}(h) + w \max_j \gamma_j(h)` on the training data, where
    :math:`w` is ``constraint_weight`` and :math:`\max_j \gamma_j` is the largest
    absolute parity difference (or, for ``BoundedGroupLoss``, the worst group's loss).

    The grid holds the ``grid_size`` points of a regular lattice on :math:`[-L, L]^D`
    with :math:`\|\lambda\|_1 \le L` (``L = grid_limit``) closest to the origin (ties
    broken towards negative values), in increasing order. :math:`D` is one signed
    multiplier per (event, group) except the first group of each event (its multiplier
    is redundant); for two groups and demographic parity this is fairlearn's grid. With
    more than 6 dimensions the points are drawn uniformly from the L1 ball instead
    (seeded by ``random_state``).

    Parameters
    ----------
    estimator : estimator
        Any estimator whose ``fit`` accepts ``sample_weight``.
    constraints : Moment
        The constraint, e.g. ``DemographicParity()``.
    constraint_weight : float, default=0.5
        Weight ``w`` of the disparity in the selection rule (between 0 and 1).
    grid_size : int, default=10
        Number of grid points (fits).
    grid_limit : float, default=2.0
        L1 radius ``L`` of the grid.
    grid : array-like of shape (n_points, D), optional
        Explicit grid of signed multipliers; overrides the three parameters above.
    random_state : int, RandomState or None
        Seed for high-dimensional grids.

    Attributes
    ----------
    predictors_ : list
        One fitted estimator per grid point.
    lambda_vecs_ : ndarray of shape (n_points, D)
        The grid.
    errors_, disparities_, objectives_ : ndarray of shape (n_points,)
        Training error, largest disparity and selection objective per predictor.
    best_idx_ : int
        Index of the selected predictor.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from evenhand.mitigate import DemographicParity, GridSearch
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 2, 1000)
    >>> X = np.column_stack((rng.normal(size=1000) + a, rng.normal(size=1000)))
    >>> y = (X[:, 0] + rng.normal(size=1000) > 0.5).astype(int)
    >>> gs = GridSearch(LogisticRegression(), DemographicParity(), grid_size=7)
    >>> gs = gs.fit(X, y, sensitive_features=a)
    >>> len(gs.predictors_)
    7
    """

    def __init__(
        self,
        estimator: Any = None,
        constraints: Moment | None = None,
        *,
        constraint_weight: float = 0.5,
        grid_size: int = 10,
        grid_limit: float = 2.0,
        grid: Any = None,
        random_state: Any = None,
    ) -> None:
        self.estimator = estimator
        self.constraints = constraints
        self.constraint_weight = constraint_weight
        self.grid_size = grid_size
        self.grid_limit = grid_limit
        self.grid = grid
        self.random_state = random_state

    def fit(
        self, X: Any, y: Any, *, sensitive_features: Any = None, sample_weight: Any = None
    ) -> GridSearch:
        """Fit one model per grid point and select the best trade-off.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, passed unchanged to the base estimator.
        y : array-like of shape (n_samples,)
            Binary labels (or real targets with ``BoundedGroupLoss``).
        sensitive_features : array-like of shape (n_samples,) or (n_samples, k)
            Group of each row (required).
        sample_weight : array-like of shape (n_samples,), optional
            Row weights.

        Returns
        -------
        GridSearch
            The fitted estimator.
        """
        if not 0 <= self.constraint_weight <= 1:
            raise EvenhandError(
                "The 'constraint_weight' parameter of GridSearch must be between 0 and 1; "
                f"got {self.constraint_weight!r}."
            )
        state = self._setup(X, y, sensitive_features, sample_weight)
        self.lambda_vecs_ = self._grid(state)
        self.predictors_, errors, disparities = [], [], []
        for point in self.lambda_vecs_:
            model, pred = self._oracle(X, state, state.lam_from_grid(point))
            self.predictors_.append(model)
            errors.append(state.error(pred))
            disparities.append(float(np.max(np.abs(state.raw(pred)) if self._is_classifier()
                                            else state.gamma(pred))))
        self.errors_, self.disparities_ = np.array(errors), np.array(disparities)
        w = self.constraint_weight
        self.objectives_ = (1 - w) * self.errors_ + w * self.disparities_
        self.best_idx_ = int(np.argmin(self.objectives_))
        self.weights_ = unit_vector(self.best_idx_, len(self.predictors_))
        copy_n_features_in(self, self.predictors_[self.best_idx_])
        return self

    def _grid(self, state: Any) -> np.ndarray:
        dim = state.basis_dimension()
        if self.grid is not None:
            grid = np.atleast_2d(np.asarray(self.grid, dtype=float))
            if grid.shape[1] != dim:
                raise EvenhandError(
                    f"The 'grid' parameter of GridSearch needs {dim} column(s) for this "
                    f"constraint and data; got an array of shape {grid.shape}."
                )
            return grid
        if not (isinstance(self.grid_size, int) and self.grid_size >= 1):
            raise EvenhandError(
                f"The 'grid_size' parameter of GridSearch must be an int ≥ 1; got "
                f"{self.grid_size!r}."
            )
        signed = self._is_classifier()
        if dim > 6:
            return _random_l1_ball(dim, self.grid_size, self.grid_limit, signed,
                                   check_random_state(self.random_state))
        return _lattice(dim, self.grid_size, self.grid_limit, signed)

    def predict(self, X: Any) -> np.ndarray:
        """Predict with the selected model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        ndarray of shape (n_samples,)
            Class labels (classification) or real predictions (regression).
        """
        check_is_fitted(self, "best_idx_")
        pred = np.asarray(self.predictors_[self.best_idx_].predict(X))
        if self._is_classifier():
            assert self.classes_ is not None  # fit stores the labels of a classification target
            return self.classes_[pred.astype(np.intp)]
        return pred.astype(float)


def _lattice(dim: int, size: int, limit: float, signed: bool) -> np.ndarray:
    """Return ``size`` points of the coarsest sufficient lattice in the L1 ball, nearest first."""
    if dim == 0:
        return np.zeros((1, 0))
    steps = 1
    while True:
        ticks = np.linspace(-limit if signed else 0.0, limit, (2 * steps + 1) if signed
                            else steps + 1)
        points = np.array(list(itertools.product(ticks, repeat=dim)))
        inside = points[np.abs(points).sum(axis=1) <= limit + 1e-12]
        if len(inside) >= size or steps > 10_000:
            break
        steps += 1
    order = np.lexsort((*inside.T[::-1], np.abs(inside).sum(axis=1)))
    chosen = inside[order][:size]
    return chosen[np.lexsort(chosen.T[::-1])]  # then in increasing order, like fairlearn


def _random_l1_ball(
    dim: int, size: int, limit: float, signed: bool, rng: np.random.RandomState
) -> np.ndarray:
    """Origin plus ``size - 1`` points uniform in the L1 ball (positive orthant if unsigned)."""
    radii = limit * rng.random_sample(size - 1) ** (1 / dim)
    direction = rng.exponential(size=(size - 1, dim))
    direction /= direction.sum(axis=1, keepdims=True)
    if signed:
        direction *= rng.choice([-1.0, 1.0], size=direction.shape)
    return np.vstack((np.zeros(dim), radii[:, None] * direction))
