"""Shared parts of the reductions (Agarwal et al.): the estimator base and the Lagrangian.

``Reduction`` holds the input checks, the best-response oracle (the base estimator
refitted on reduced labels and weights) and the scikit-learn plumbing of a randomised
mixture; ``Lagrangian`` is the two-player game both reductions play. The reductions
themselves are ``evenhand.mitigate._expgrad.ExponentiatedGradient`` and
``evenhand.mitigate._grid_search.GridSearch``.
"""

from __future__ import annotations

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
    encode_groups,
    inherit_sparse_tag,
    real_target,
)

__all__ = ["PRECISION", "Lagrangian", "Reduction", "unit_vector"]

PRECISION = 1e-8
_GAP_MULTIPLIERS = (1.0, 2.0, 5.0, 10.0)


class _Constant:
    """The best response when every reduced label is the same: predict that label."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, X: Any) -> np.ndarray:
        return np.full(_n_rows(X), self.value)


def _n_rows(X: Any) -> int:
    return _num_samples(X)


class Reduction(BaseEstimator):
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


class Lagrangian:
    """The two-player game: the best-response oracle and the hypotheses found so far."""

    def __init__(self, owner: Reduction, X: Any, state: Any, bound_B: float) -> None:
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
        if value < best_value - PRECISION:
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
            L_low = min(L_low, self.evaluate(unit_vector(h, h + 1), lam)[0])
            if max(L - L_low, L_high - L) > nu + PRECISION:
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


def unit_vector(index: int, size: int) -> np.ndarray:
    """Return the ``index``-th standard basis vector of length ``size``."""
    out = np.zeros(size)
    out[index] = 1.0
    return out

