"""Reject option classification (Kamiran, Karim & Zhang 2012)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from evenhand._core._errors import EvenhandError
from evenhand.mitigate._scoring import fit_post_estimator, post_fit_inputs, post_predict_inputs
from evenhand.mitigate._validation import binary_only_tags

__all__ = ["RejectOptionClassifier"]

_CONSTRAINTS = ("demographic_parity", "equalized_odds", "equal_opportunity")


class RejectOptionClassifier(ClassifierMixin, BaseEstimator):
    r"""Flip uncertain predictions in favour of disadvantaged groups.

    With a classification threshold :math:`t` and a margin :math:`m`, rows whose positive
    probability :math:`s` lies in the *critical region* :math:`|s - t| \le m` are
    labelled positive if their group is *unprivileged* and negative otherwise; other rows
    get :math:`1[s \ge t]`. As in aif360's ``RejectOptionClassification``, :meth:`fit`
    searches ``n_thresholds`` thresholds in [0.01, 0.99] and, for each, ``n_margins``
    margins in :math:`[0, \min(t, 1 - t)]`, and keeps the pair with the highest balanced
    accuracy among those whose disparity (largest between-group difference of the
    constrained rate(s)) is at most ``max_disparity``; if none qualifies, the pair with
    the smallest disparity. Each candidate is evaluated from per-group sorted scores with
    binary searches, so the search costs no pass over the data per candidate.

    Parameters
    ----------
    estimator : classifier with ``predict_proba``
        Supplies the probabilities.
    constraints : {"demographic_parity", "equalized_odds", "equal_opportunity"}
        Which rates' disparity is bounded.
    max_disparity : float, default=0.05
        The bound on the disparity.
    unprivileged : list or None
        Group labels treated as unprivileged. ``None``: the groups whose selection rate
        under ``s ≥ 0.5`` is below the overall rate.
    prefit : bool, default=False
        Use ``estimator`` as already fitted.
    n_thresholds, n_margins : int
        Sizes of the search grid.

    Attributes
    ----------
    threshold_, margin_ : float
        The chosen :math:`t` and :math:`m`.
    unprivileged_ : ndarray of bool, shape (n_groups,)
        Which of ``groups_`` are unprivileged.
    disparity_, balanced_accuracy_ : float
        Their values on the training data.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from evenhand.mitigate import RejectOptionClassifier
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 2, 2000)
    >>> X = rng.normal(size=(2000, 2)) + a[:, None]
    >>> y = (X[:, 0] + rng.normal(size=2000) > 0.5).astype(int)
    >>> roc = RejectOptionClassifier(LogisticRegression()).fit(X, y, sensitive_features=a)
    >>> bool(roc.disparity_ <= 0.05)
    True
    """

    def __init__(
        self,
        estimator: Any = None,
        *,
        constraints: Literal[
            "demographic_parity", "equalized_odds", "equal_opportunity"
        ] = "demographic_parity",
        max_disparity: float = 0.05,
        unprivileged: Any = None,
        prefit: bool = False,
        n_thresholds: int = 100,
        n_margins: int = 50,
    ) -> None:
        self.estimator = estimator
        self.constraints = constraints
        self.max_disparity = max_disparity
        self.unprivileged = unprivileged
        self.prefit = prefit
        self.n_thresholds = n_thresholds
        self.n_margins = n_margins

    def __sklearn_tags__(self) -> Any:
        return binary_only_tags(super().__sklearn_tags__(), self.estimator)

    def fit(
        self, X: Any, y: Any, *, sensitive_features: Any = None, sample_weight: Any = None
    ) -> RejectOptionClassifier:
        """Fit (or reuse) the estimator and search the threshold and margin.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        y : array-like of shape (n_samples,)
            Binary labels.
        sensitive_features : array-like
            Group of each row (required).
        sample_weight : array-like, optional
            Row weights.

        Returns
        -------
        RejectOptionClassifier
            The fitted classifier.
        """
        owner = "RejectOptionClassifier"
        y01, codes, weight = post_fit_inputs(self, y, sensitive_features, sample_weight,
                                             allowed=_CONSTRAINTS, owner=owner)
        if min(weight[y01 == 0].sum(), weight[y01 == 1].sum()) <= 0:
            raise EvenhandError(
                f"{owner} needs both classes with positive total sample_weight (balanced "
                "accuracy is undefined otherwise); one class has zero weight."
            )
        scores = fit_post_estimator(self, X, y01, sample_weight, "predict_proba", owner=owner)
        self.unprivileged_ = self._unprivileged(scores, codes, weight)
        self._search(scores, y01, codes, weight)
        return self

    def _unprivileged(self, scores: np.ndarray, codes: np.ndarray, w: np.ndarray) -> np.ndarray:
        if self.unprivileged is not None:
            chosen = np.asarray(self.unprivileged).ravel()
            unknown = [g for g in chosen.tolist() if g not in self.groups_.tolist()]
            if unknown:
                raise EvenhandError(
                    f"unprivileged names group {unknown[0]!r}, which is not in "
                    f"sensitive_features (groups: {self.groups_.tolist()!r})."
                )
            return np.isin(self.groups_, chosen)
        selected = np.bincount(codes, w * (scores >= 0.5), minlength=len(self.groups_))
        rate = selected / np.bincount(codes, w, minlength=len(self.groups_))
        return rate < np.dot(w, scores >= 0.5) / w.sum()

    def _search(
        self, scores: np.ndarray, y01: np.ndarray, codes: np.ndarray, w: np.ndarray
    ) -> None:
        curves = [_GroupCurve(scores[codes == g], y01[codes == g], w[codes == g])
                  for g in range(len(self.groups_))]
        ts, ms = [], []
        for t in np.linspace(0.01, 0.99, self.n_thresholds):
            ts.append(np.full(self.n_margins, t))
            ms.append(np.linspace(0.0, min(t, 1 - t), self.n_margins))
        t, m = np.concatenate(ts), np.concatenate(ms)
        tp, fp = np.empty((len(curves), len(t))), np.empty((len(curves), len(t)))
        for g, curve in enumerate(curves):
            if self.unprivileged_[g]:
                tp[g], fp[g] = curve.at_least(t - m)
            else:
                tp[g], fp[g] = curve.above(t + m)
        pos = np.array([c.pos for c in curves])[:, None]
        neg = np.array([c.neg for c in curves])[:, None]
        disparity = self._disparity(tp, fp, pos, neg)
        bal_acc = 0.5 * (tp.sum(0) / pos.sum() + 1 - fp.sum(0) / neg.sum())
        ok = disparity <= self.max_disparity + 1e-12
        best = int(np.argmax(np.where(ok, bal_acc, -np.inf))) if ok.any() \
            else int(np.argmin(disparity))
        self.threshold_, self.margin_ = float(t[best]), float(m[best])
        self.disparity_, self.balanced_accuracy_ = float(disparity[best]), float(bal_acc[best])

    def _disparity(self, tp: np.ndarray, fp: np.ndarray, pos: np.ndarray,
                   neg: np.ndarray) -> np.ndarray:
        def spread(rate: np.ndarray) -> np.ndarray:
            return np.nanmax(rate, axis=0) - np.nanmin(rate, axis=0)

        with np.errstate(invalid="ignore", divide="ignore"):
            if self.constraints == "demographic_parity":
                return spread((tp + fp) / (pos + neg))
            tpr_spread = spread(tp / pos)
            if self.constraints == "equal_opportunity":
                return tpr_spread
            return np.maximum(tpr_spread, spread(fp / neg))

    def predict(self, X: Any, *, sensitive_features: Any = None) -> np.ndarray:
        """Predict with the chosen threshold and critical region.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.
        sensitive_features : array-like
            Group of each row (required; groups seen in ``fit``).

        Returns
        -------
        ndarray of shape (n_samples,)
            Class labels.
        """
        scores, codes = post_predict_inputs(self, X, sensitive_features, "predict_proba",
                                            fitted="threshold_", owner="RejectOptionClassifier")
        critical = np.abs(scores - self.threshold_) <= self.margin_
        positive = np.where(critical, self.unprivileged_[codes], scores >= self.threshold_)
        return self.classes_[positive.astype(np.intp)]


class _GroupCurve:
    """Weighted positives/negatives above any threshold, by binary search."""

    def __init__(self, scores: np.ndarray, y01: np.ndarray, w: np.ndarray) -> None:
        order = np.argsort(scores)
        self.s = scores[order]
        wy = w[order] * y01[order]
        wn = w[order] * (1 - y01[order])
        # suffix sums: weight of rows at index >= i
        self.tp_from = np.append(np.cumsum(wy[::-1])[::-1], 0.0)
        self.fp_from = np.append(np.cumsum(wn[::-1])[::-1], 0.0)
        self.pos, self.neg = wy.sum(), wn.sum()

    def at_least(self, thr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(TP, FP) of the rule ``s >= thr``."""
        i = np.searchsorted(self.s, thr, side="left")
        return self.tp_from[i], self.fp_from[i]

    def above(self, thr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(TP, FP) of the rule ``s > thr``."""
        i = np.searchsorted(self.s, thr, side="right")
        return self.tp_from[i], self.fp_from[i]
