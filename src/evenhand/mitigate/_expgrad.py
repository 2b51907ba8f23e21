"""In-processing by exponentiated gradient (Agarwal et al. 2018): a randomised mixture."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from evenhand._core._errors import EvenhandError
from evenhand.mitigate._moments import Moment
from evenhand.mitigate._reductions import PRECISION, Lagrangian, Reduction
from evenhand.mitigate._validation import copy_n_features_in

__all__ = ["ExponentiatedGradient"]

# Step-size control and stopping rule of Agarwal et al. (2018), as in their reference code.
_MIN_ITER = 5
_REGRET_CHECK_START = 5
_REGRET_CHECK_GROWTH = 1.6
_SHRINK_REGRET = 0.8
_SHRINK_ETA = 0.8


class ExponentiatedGradient(Reduction):
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
        game = Lagrangian(self, X, state, 1.0 / self.eps)
        q, self.best_gap_, self.n_iter_ = self._play(game, state)
        self.predictors_ = game.models
        self.weights_ = np.zeros(len(game.models))
        self.weights_[: len(q)] = q
        self.n_oracle_calls_ = game.n_oracle_calls
        copy_n_features_in(self, self.predictors_[0])
        return self

    def _play(self, game: Lagrangian, state: Any) -> tuple[np.ndarray, float, int]:
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
        chosen = int(np.flatnonzero(gaps <= gaps.min() + PRECISION)[-1])
        return solutions[chosen][0], float(gaps[chosen]), len(solutions)


def _default_nu(pred: np.ndarray, y: np.ndarray, weight: np.ndarray) -> float:
    """``0.5 * sd(|h0 - y|) / sqrt(W)``, weighted so that weights act like repeated rows."""
    residual = np.abs(pred - y)
    mean = np.average(residual, weights=weight)
    return 0.5 * math.sqrt(np.average((residual - mean) ** 2, weights=weight)) / math.sqrt(
        weight.sum()
    )
