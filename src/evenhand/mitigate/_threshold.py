"""Post-processing with group-specific randomised thresholds (Hardt, Price & Srebro 2016)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from scipy import sparse
from scipy.optimize import linprog
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_random_state

from evenhand._core._errors import EvenhandError
from evenhand.mitigate._hull import roc_points, upper_hull
from evenhand.mitigate._scoring import fit_post_estimator, post_fit_inputs, post_predict_inputs
from evenhand.mitigate._validation import binary_only_tags

__all__ = ["ThresholdOptimizer"]

_CONSTRAINTS = ("equalized_odds", "demographic_parity", "equal_opportunity")


class ThresholdOptimizer(ClassifierMixin, BaseEstimator):
    r"""Group-specific randomised thresholds that maximise accuracy under a parity constraint.

    For each group :math:`g` the rules "predict 1 when score ≥ t" trace a ROC curve; any
    point in the convex hull of that curve is reachable by randomising between two or
    three thresholds. The optimiser solves *exactly*, as one linear program (scipy HiGHS),

    .. math::

        \max_{\lambda}\ \sum_g \sum_k \lambda_{g,k}\,\mathrm{correct}_{g,k}
        \quad\text{s.t.}\quad \sum_k \lambda_{g,k} = 1,\ \lambda \ge 0,\
        \sum_k \lambda_{g,k}\, r_{g,k} = r^\ast \ \forall g,

    where :math:`k` runs over the vertices of group :math:`g`'s upper hull and
    :math:`r_{g,k}` is the constrained rate: (FPR, TPR) for ``"equalized_odds"``, TPR for
    ``"equal_opportunity"``, the selection rate for ``"demographic_parity"``;
    :math:`\mathrm{correct}_{g,k}` is the (weighted) number of correct predictions.
    Accuracy is the training accuracy in expectation over the randomisation.

    Parameters
    ----------
    estimator : classifier
        Scores come from ``predict_proba`` (positive class), ``decision_function`` or
        ``predict`` (see ``predict_method``).
    constraints : {"equalized_odds", "demographic_parity", "equal_opportunity"}
        The parity to enforce exactly on the training data.
    prefit : bool, default=False
        If True, ``estimator`` is already fitted and used as is; otherwise a clone is
        fitted on ``X, y`` in :meth:`fit`.
    predict_method : {"auto", "predict_proba", "decision_function", "predict"}
        How scores are read from the estimator.
    random_state : int, RandomState or None
        Seed of the randomisation in :meth:`predict`; an int makes predictions repeatable.

    Attributes
    ----------
    estimator_ : classifier
        The fitted estimator that supplies the scores.
    classes_ : ndarray of shape (2,)
        The two class labels.
    groups_ : ndarray
        The group labels seen in ``fit`` (several sensitive columns joined with ``"|"``).
    thresholds_ : dict
        For each group, ``(thresholds, probabilities)``: the rows with score ≥
        ``thresholds[j]`` and < ``thresholds[j+1]`` are predicted positive with
        probability ``probabilities[j]``; below ``thresholds[0]`` the probability is 0.
    target_rates_ : dict
        The common rate(s) reached, e.g. ``{"fpr": ..., "tpr": ...}``.
    training_accuracy_ : float
        Expected accuracy of the randomised classifier on the training data.

    Notes
    -----
    A group whose labels are all one class has no ROC curve: ``"equalized_odds"`` and
    ``"equal_opportunity"`` then raise :class:`~evenhand.EvenhandError`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from evenhand.mitigate import ThresholdOptimizer
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 2, 2000)
    >>> X = rng.normal(size=(2000, 2)) + a[:, None]
    >>> y = (X[:, 0] + rng.normal(size=2000) > 0.5).astype(int)
    >>> post = ThresholdOptimizer(LogisticRegression(), random_state=0)
    >>> post = post.fit(X, y, sensitive_features=a)
    >>> rates = post.target_rates_
    >>> round(rates["fpr"], 3) <= round(rates["tpr"], 3)
    True
    """

    def __init__(
        self,
        estimator: Any = None,
        *,
        constraints: Literal[
            "equalized_odds", "demographic_parity", "equal_opportunity"
        ] = "equalized_odds",
        prefit: bool = False,
        predict_method: str = "auto",
        random_state: Any = None,
    ) -> None:
        self.estimator = estimator
        self.constraints = constraints
        self.prefit = prefit
        self.predict_method = predict_method
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        return binary_only_tags(super().__sklearn_tags__(), self.estimator)

    def fit(
        self, X: Any, y: Any, *, sensitive_features: Any = None, sample_weight: Any = None
    ) -> ThresholdOptimizer:
        """Fit (or reuse) the estimator and solve the threshold linear program.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features passed to the estimator.
        y : array-like of shape (n_samples,)
            Binary labels.
        sensitive_features : array-like of shape (n_samples,) or (n_samples, k)
            Group of each row (required).
        sample_weight : array-like of shape (n_samples,), optional
            Row weights, used both to fit the estimator and in the rates.

        Returns
        -------
        ThresholdOptimizer
            The fitted post-processor.
        """
        y01, codes, weight = post_fit_inputs(self, y, sensitive_features, sample_weight,
                                             allowed=_CONSTRAINTS, owner="ThresholdOptimizer")
        scores = fit_post_estimator(self, X, y01, sample_weight, self.predict_method,
                                    owner="ThresholdOptimizer")
        self._solve(scores, y01, codes, weight)
        return self

    def _solve(
        self, scores: np.ndarray, y01: np.ndarray, codes: np.ndarray, weight: np.ndarray
    ) -> None:
        curves = [
            _group_curve(scores[codes == g], y01[codes == g], weight[codes == g],
                         self.constraints)
            for g in range(len(self.groups_))
        ]
        lam, target, value = _solve_lp(curves, self.constraints, weight.sum())
        self.thresholds_ = {}
        self._tables = []
        for label, curve, lam_g in zip(self.groups_.tolist(), curves, lam, strict=True):
            table = _probability_table(curve["thresholds"], lam_g)
            self._tables.append(table)
            self.thresholds_[label] = table
        names = {"equalized_odds": ["fpr", "tpr"], "equal_opportunity": ["tpr"],
                 "demographic_parity": ["selection_rate"]}[self.constraints]
        self.target_rates_ = dict(zip(names, (float(t) for t in target), strict=True))
        self.training_accuracy_ = float(value)

    def predict_proba(self, X: Any, *, sensitive_features: Any = None) -> np.ndarray:
        """Return the probability of each class under the randomised rule.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        sensitive_features : array-like
            Group of each row (required; groups must have been seen in ``fit``).

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Columns ordered as ``classes_``.
        """
        scores, codes = post_predict_inputs(self, X, sensitive_features, self.predict_method,
                                            fitted="thresholds_", owner="ThresholdOptimizer")
        p = np.empty(len(scores))
        for g, (thresholds, probs) in enumerate(self._tables):
            rows = codes == g
            pos = np.searchsorted(thresholds, scores[rows], side="right") - 1
            p[rows] = np.where(pos >= 0, probs[np.maximum(pos, 0)], 0.0)
        return np.column_stack((1.0 - p, p))

    def predict(self, X: Any, *, sensitive_features: Any = None) -> np.ndarray:
        """Return randomised class predictions (seeded by ``random_state``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        sensitive_features : array-like
            Group of each row (required).

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        p = self.predict_proba(X, sensitive_features=sensitive_features)[:, 1]
        draw = check_random_state(self.random_state).random_sample(len(p))
        return self.classes_[(draw < p).astype(np.intp)]


def _group_curve(
    scores: np.ndarray, y01: np.ndarray, weight: np.ndarray, constraints: str
) -> dict[str, np.ndarray]:
    """Hull vertices of one group: thresholds, constrained rates and correct counts."""
    thresholds, tp, fp = roc_points(scores, y01, weight)
    pos, neg = tp[-1], fp[-1]
    correct = tp + (neg - fp)
    if constraints == "demographic_parity":
        x = (tp + fp) / (pos + neg)
        hull = upper_hull(x, correct)
        rates = x[hull][None, :]
    else:
        fpr, tpr = fp / neg, tp / pos
        hull = upper_hull(fpr, tpr)
        rates = np.vstack((fpr[hull], tpr[hull]))
        if constraints == "equal_opportunity":
            rates = rates[1:]
    return {"thresholds": thresholds[hull], "rates": rates, "correct": correct[hull]}


def _solve_lp(
    curves: list[dict[str, np.ndarray]], constraints: str, total_weight: float
) -> tuple[list[np.ndarray], np.ndarray, float]:
    """Solve the LP; return per-group vertex weights, the common rate(s) and accuracy."""
    sizes = [len(c["correct"]) for c in curves]
    n_rates = curves[0]["rates"].shape[0]
    n_lam = sum(sizes)
    # variables: all lambdas, then the common rates
    cost = np.concatenate([-c["correct"] / total_weight for c in curves] + [np.zeros(n_rates)])
    # COO triplets: one array per block of lambdas, one-element lists for the rate columns
    rows: list[np.ndarray | list[int]] = []
    cols: list[np.ndarray | list[int]] = []
    vals: list[np.ndarray | list[float]] = []
    b_eq: list[float] = []
    offset, row = 0, 0
    for curve, size in zip(curves, sizes, strict=True):
        lam_cols = np.arange(offset, offset + size)
        rows.append(np.full(size, row))
        cols.append(lam_cols)
        vals.append(np.ones(size))
        b_eq.append(1.0)
        for r in range(n_rates):
            rows.extend([np.full(size, row + 1 + r), [row + 1 + r]])
            cols.extend([lam_cols, [n_lam + r]])
            vals.extend([curve["rates"][r], [-1.0]])
            b_eq.append(0.0)
        offset += size
        row += 1 + n_rates
    a_eq = sparse.csr_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(row, n_lam + n_rates),
    )
    result = linprog(cost, A_eq=a_eq, b_eq=np.asarray(b_eq), bounds=(0, None), method="highs")
    if result.status != 0:  # the diagonal is always feasible, so this is numerical trouble
        raise EvenhandError(f"The threshold linear program failed: {result.message}")
    lam = np.split(np.clip(result.x[:n_lam], 0.0, None), np.cumsum(sizes)[:-1])
    return lam, result.x[n_lam:], -result.fun


def _probability_table(
    thresholds: np.ndarray, lam: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Turn vertex weights into a step function P(predict 1 | score).

    Vertex ``k`` is the rule "score ≥ thresholds[k]", so the probability at score ``s``
    is the total weight of vertices whose threshold is ≤ ``s``.
    """
    used = lam > 1e-12
    t, w = thresholds[used], lam[used] / lam[used].sum()
    order = np.argsort(t)
    t, w = t[order], w[order]
    keep = t < np.inf  # the "+inf" vertex predicts nobody positive
    return t[keep], np.cumsum(w[keep])
