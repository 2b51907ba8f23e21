"""In-processing by reductions: exponentiated gradient and grid search (Agarwal et al.)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from scipy.optimize import linprog
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils._available_if import available_if
from sklearn.utils.validation import _num_samples, check_is_fitted, check_random_state

from evenhand._core._errors import EvenhandError
from evenhand.mitigate._moments import Moment
from evenhand.mitigate._validation import (
    binary_target,
    check_sample_weight,
    copy_n_features_in,
    encode_groups,
    inherit_sparse_tag,
    real_target,
)

__all__ = ["ExponentiatedGradient", "GridSearch"]

_PRECISION = 1e-8
# Step-size control and stopping rule of Agarwal et al. (2018), as in their reference code.
_MIN_ITER = 5
_REGRET_CHECK_START = 5
_REGRET_CHECK_GROWTH = 1.6
_SHRINK_REGRET = 0.8
_SHRINK_ETA = 0.8
_GAP_MULTIPLIERS = (1.0, 2.0, 5.0, 10.0)


class _Constant:
    """The best response when every reduced label is the same: predict that label."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, X: Any) -> np.ndarray:
        return np.full(_n_rows(X), self.value)


def _n_rows(X: Any) -> int:
    return _num_samples(X)


class _Reduction(BaseEstimator):
    """Shared parts: input checks, the best-response oracle, sklearn plumbing."""

    classes_: np.ndarray | None  # set by fit; None for a regression target

    def _is_classifier(self) -> bool:
        return getattr(self.constraints, "is_classification", True)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        inherit_sparse_tag(tags, self.estimator)
        if self._is_classifier():
            tags.estimator_type = "classifier"
            tags.classifier_tags = _classifier_tags()
        else:
            tags.estimator_type = "regressor"
            tags.regressor_tags = _regressor_tags()
        return tags

    def _setup(self, X: Any, y: Any, sensitive_features: Any, sample_weight: Any) -> Any:
        owner = type(self).__name__
        if not isinstance(self.constraints, Moment):
            raise EvenhandError(
                f"The 'constraints' parameter of {owner} must be a constraint object such as "
                f"DemographicParity() or EqualizedOdds(); got {self.constraints!r}."
            )
        if self.estimator is None:
            raise EvenhandError(
                f"{owner} needs an estimator accepting sample_weight; got estimator=None."
            )
        if self._is_classifier():
            y01, self.classes_ = binary_target(y, owner=owner)
        else:
            y01, self.classes_ = real_target(y, owner=owner), None
        codes, self.groups_ = encode_groups(sensitive_features, len(y01), owner=owner)
        weight = check_sample_weight(sample_weight, len(y01))
        return self.constraints._prepare(y01, codes, self.groups_, self.classes_, weight,
                                         self._bound())

    def _bound(self) -> float:
        return 0.0

    def _oracle(self, X: Any, state: Any, lam: np.ndarray) -> tuple[Any, np.ndarray]:
        """Fit the base estimator to the weighted problem; return it and its predictions."""
        target, weight = state.best_response_problem(lam)
        if self._is_classifier() and np.all(target == target[0]):
            model: Any = _Constant(float(target[0]))
        else:
            model = clone(self.estimator).fit(X, target, sample_weight=weight)
        return model, self._predict_train(model, X)

    def _predict_train(self, model: Any, X: Any) -> np.ndarray:
        return np.asarray(model.predict(X), dtype=float)

    def _mixture(self, X: Any) -> np.ndarray:
        """Weighted average of the predictors' outputs, weights ``weights_``."""
        check_is_fitted(self, "weights_")
        out = np.zeros(_n_rows(X))
        for model, w in zip(self.predictors_, self.weights_, strict=True):
            if w > 0:
                out += w * np.asarray(model.predict(X), dtype=float)
        return out

    @available_if(lambda self: self._is_classifier())
    def predict_proba(self, X: Any) -> np.ndarray:
        """Return class probabilities of the randomised classifier.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Columns ordered as ``classes_``.
        """
        p = np.clip(self._mixture(X), 0.0, 1.0)
        return np.column_stack((1 - p, p))

    def predict(self, X: Any) -> np.ndarray:
        """Predict: a seeded draw from the randomised classifier, or the mean regression.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        ndarray of shape (n_samples,)
            Class labels (classification) or real predictions (regression).
        """
        if not self._is_classifier():
            return self._mixture(X)
        p = self.predict_proba(X)[:, 1]
        draw = check_random_state(self.random_state).random_sample(len(p))
        assert self.classes_ is not None  # fit stores the labels of a classification target
        return self.classes_[(draw < p).astype(np.intp)]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy (classification) or R² (regression) of :meth:`predict`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        y : array-like of shape (n_samples,)
            True targets.
        sample_weight : array-like, optional
            Row weights.

        Returns
        -------
        float
            The score.
        """
        metric = accuracy_score if self._is_classifier() else r2_score
        return float(metric(y, self.predict(X), sample_weight=sample_weight))


def _classifier_tags() -> Any:
    from sklearn.utils import ClassifierTags

    return ClassifierTags(multi_class=False)


def _regressor_tags() -> Any:
    from sklearn.utils import RegressorTags

    return RegressorTags()


class _Lagrangian:
    """The two-player game: the best-response oracle and the hypotheses found so far."""

    def __init__(self, owner: _Reduction, X: Any, state: Any, bound_B: float) -> None:
        self.owner, self.X, self.state, self.B = owner, X, state, bound_B
        self.models: list[Any] = []
        self.preds: list[np.ndarray] = []
        self.errors = np.zeros(0)
        self.gammas = np.zeros((len(state.bound), 0))
        self.n_oracle_calls = 0
        self._lp_cache: tuple[int, Any] | None = None

    def best_h(self, lam: np.ndarray) -> int:
        """Index of the hypothesis minimising the Lagrangian at ``lam`` (fits a new one)."""
        model, pred = self.owner._oracle(self.X, self.state, lam)
        self.n_oracle_calls += 1
        error, gamma = self.state.error(pred), self.state.gamma(pred)
        value = error + gamma @ lam
        best, best_value = -1, np.inf
        if self.models:
            values = self.errors + lam @ self.gammas
            best = int(np.argmin(values))
            best_value = values[best]
        if value < best_value - _PRECISION:
            self.models.append(model)
            self.preds.append(pred)
            self.errors = np.append(self.errors, error)
            self.gammas = np.column_stack((self.gammas, gamma))
            best = len(self.models) - 1
        return best

    def evaluate(self, q: np.ndarray, lam: np.ndarray) -> tuple[float, float, float]:
        """``(L, L_high, error)`` of the mixture ``q`` at multipliers ``lam``."""
        error = float(self.errors[: len(q)] @ q)
        slack = self.gammas[:, : len(q)] @ q - self.state.bound
        L_high = error + self.B * max(float(slack.max()), 0.0)
        return error + float(self.state.project(lam) @ slack), L_high, error

    def gap(self, q: np.ndarray, lam: np.ndarray, nu: float) -> float:
        """Duality gap ``max(L - L_low, L_high - L)`` with the oracle for ``L_low``."""
        L, L_high, _ = self.evaluate(q, lam)
        L_low = L
        for mul in _GAP_MULTIPLIERS:
            h = self.best_h(mul * lam)
            L_low = min(L_low, self.evaluate(_unit(h, h + 1), lam)[0])
            if max(L - L_low, L_high - L) > nu + _PRECISION:
                break
        return max(L - L_low, L_high - L)

    def solve_lp(self, nu: float) -> tuple[np.ndarray, np.ndarray, float]:
        """Best mixture of the current hypotheses (primal) and its multipliers (dual)."""
        n_h = len(self.models)
        if self._lp_cache is not None and self._lp_cache[0] == n_h:
            return self._lp_cache[1]
        n_c = len(self.state.bound)
        cost = np.append(self.errors, self.B)
        a_ub = np.column_stack((self.gammas - self.state.bound[:, None], -np.ones(n_c)))
        a_eq = np.append(np.ones(n_h), 0.0)[None, :]
        res = linprog(cost, A_ub=a_ub, b_ub=np.zeros(n_c), A_eq=a_eq, b_eq=[1.0],
                      bounds=(0, None), method="highs")
        q = np.clip(res.x[:-1], 0, None)
        lam = np.clip(-res.ineqlin.marginals, 0, None)
        result = (q, lam, self.gap(q, lam, nu))
        self._lp_cache = (n_h, result)  # the gap step may add models: then re-solve
        return result


def _unit(index: int, size: int) -> np.ndarray:
    out = np.zeros(size)
    out[index] = 1.0
    return out


class ExponentiatedGradient(_Reduction):
    r"""Randomised classifier (or regressor) minimising error under a fairness constraint.

    Solves :math:`\min_Q \mathrm{err}(Q)` subject to :math:`\gamma(Q) \le \varepsilon`
    over distributions :math:`Q` on the base estimator's hypotheses, as the saddle point of
    the Lagrangian :math:`L(Q,\lambda) = \mathrm{err}(Q) + \lambda^\top(\gamma(Q) -
    \varepsilon)` with :math:`\|\lambda\|_1 \le B = 1/\varepsilon` (Agarwal et al. 2018).
    The λ-player runs exponentiated gradient; the Q-player's best response is one
    weighted fit of the base estimator. Each iteration also solves the small LP over the
    hypotheses found so far and keeps whichever mixture has the smaller duality gap; the
    loop stops once the gap is below ``nu`` (after at least 5 iterations).

    Parameters
    ----------
    estimator : estimator
        Any scikit-learn estimator whose ``fit`` accepts ``sample_weight``.
    constraints : Moment
        E.g. ``DemographicParity()``, ``EqualizedOdds()``, or ``BoundedGroupLoss`` for
        regression.
    eps : float, default=0.01
        Allowed constraint violation (used when the constraint's own
        ``difference_bound`` is None) and the multiplier bound ``B = 1/eps``.
    max_iter : int, default=50
        Maximum number of iterations.
    nu : float or None
        Convergence threshold for the duality gap; default
        :math:`0.5\,\mathrm{sd}(|h_0(X) - y|)/\sqrt{n}`.
    eta0 : float, default=2.0
        Initial step size (scaled by ``1/B``).
    random_state : int, RandomState or None
        Seed of the draw in :meth:`predict` (classification).

    Attributes
    ----------
    predictors_ : list
        The fitted hypotheses.
    weights_ : ndarray
        Their probabilities in the final randomised classifier.
    best_gap_ : float
        Duality gap of the returned solution.
    n_iter_ : int
        Iterations run.
    n_oracle_calls_ : int
        Fits of the base estimator.
    classes_ : ndarray or None
        The two class labels (None for regression).
    groups_ : ndarray
        Group labels seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from evenhand.mitigate import DemographicParity, ExponentiatedGradient
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 2, 1000)
    >>> X = np.column_stack((rng.normal(size=1000) + a, rng.normal(size=1000)))
    >>> y = (X[:, 0] + rng.normal(size=1000) > 0.5).astype(int)
    >>> eg = ExponentiatedGradient(LogisticRegression(), DemographicParity(), random_state=0)
    >>> eg = eg.fit(X, y, sensitive_features=a)
    >>> p = eg.predict_proba(X)[:, 1]
    >>> bool(abs(p[a == 1].mean() - p[a == 0].mean()) < 0.03)
    True
    """

    def __init__(
        self,
        estimator: Any = None,
        constraints: Moment | None = None,
        *,
        eps: float = 0.01,
        max_iter: int = 50,
        nu: float | None = None,
        eta0: float = 2.0,
        random_state: Any = None,
    ) -> None:
        self.estimator = estimator
        self.constraints = constraints
        self.eps = eps
        self.max_iter = max_iter
        self.nu = nu
        self.eta0 = eta0
        self.random_state = random_state

    def _bound(self) -> float:
        return float(self.eps)

    def fit(
        self, X: Any, y: Any, *, sensitive_features: Any = None, sample_weight: Any = None
    ) -> ExponentiatedGradient:
        """Run the exponentiated-gradient game.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features, passed unchanged to the base estimator.
        y : array-like of shape (n_samples,)
            Binary labels (or real targets with ``BoundedGroupLoss``).
        sensitive_features : array-like of shape (n_samples,) or (n_samples, k)
            Group of each row (required).
        sample_weight : array-like of shape (n_samples,), optional
            Row weights of the error and of the constraints.

        Returns
        -------
        ExponentiatedGradient
            The fitted estimator.
        """
        if not (isinstance(self.eps, int | float) and self.eps > 0):
            raise EvenhandError(
                f"The 'eps' parameter of ExponentiatedGradient must be a number > 0; "
                f"got {self.eps!r}."
            )
        state = self._setup(X, y, sensitive_features, sample_weight)
        game = _Lagrangian(self, X, state, 1.0 / self.eps)
        q, self.best_gap_, self.n_iter_ = self._play(game, state)
        self.predictors_ = game.models
        self.weights_ = np.zeros(len(game.models))
        self.weights_[: len(q)] = q
        self.n_oracle_calls_ = game.n_oracle_calls
        copy_n_features_in(self, self.predictors_[0])
        return self

    def _play(self, game: _Lagrangian, state: Any) -> tuple[np.ndarray, float, int]:
        B, n_c = game.B, len(state.bound)
        theta, lam_sum = np.zeros(n_c), np.zeros(n_c)
        counts: dict[int, float] = {}
        gaps_eg: list[float] = []
        solutions: list[tuple[np.ndarray, float]] = []
        nu, eta = self.nu, self.eta0 / B
        last_checked, last_gap = _REGRET_CHECK_START, np.inf
        for t in range(self.max_iter):
            lam = B * np.exp(theta) / (1 + np.exp(theta).sum())
            lam_sum += lam
            h = game.best_h(lam)
            if nu is None:
                nu = _default_nu(game.preds[h], state.y, state.weight)
            counts[h] = counts.get(h, 0.0) + 1.0
            q_eg = np.zeros(len(game.models))
            for idx, c in counts.items():
                q_eg[idx] = c / (t + 1)
            gap_eg = game.gap(q_eg, lam_sum / (t + 1), nu)
            gaps_eg.append(gap_eg)
            best = (q_eg, gap_eg)
            if t > 0:
                q_lp, _, gap_lp = game.solve_lp(nu)
                if gap_lp <= gap_eg:
                    best = (q_lp, gap_lp)
            solutions.append(best)
            if best[1] < nu and t >= _MIN_ITER:
                break
            if t >= last_checked * _REGRET_CHECK_GROWTH:
                if min(gaps_eg) > last_gap * _SHRINK_REGRET:
                    eta *= _SHRINK_ETA
                last_checked, last_gap = t, min(gaps_eg)
            theta += eta * (game.gammas[:, h] - state.bound)
        gaps = np.array([g for _, g in solutions])
        chosen = int(np.flatnonzero(gaps <= gaps.min() + _PRECISION)[-1])
        return solutions[chosen][0], float(gaps[chosen]), len(solutions)


def _default_nu(pred: np.ndarray, y: np.ndarray, weight: np.ndarray) -> float:
    """``0.5 * sd(|h0 - y|) / sqrt(W)``, weighted so that weights act like repeated rows."""
    residual = np.abs(pred - y)
    mean = np.average(residual, weights=weight)
    return 0.5 * math.sqrt(np.average((residual - mean) ** 2, weights=weight)) / math.sqrt(
        weight.sum()
    )


class GridSearch(_Reduction):
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
        self.weights_ = _unit(self.best_idx_, len(self.predictors_))
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
