"""Fitting or reusing the wrapped estimator of a post-processor and reading its scores."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from evenhand._errors import EvenhandError

__all__ = ["PREDICT_METHODS", "fit_or_check", "scores_of"]

PREDICT_METHODS = ("auto", "predict_proba", "decision_function", "predict")


def fit_or_check(
    estimator: Any, X: Any, y: np.ndarray, sample_weight: np.ndarray | None,
    *, prefit: bool, owner: str,
) -> Any:
    """Return ``estimator`` itself when ``prefit`` (it must be fitted), else a fitted clone."""
    if estimator is None:
        raise EvenhandError(
            f"{owner} needs an estimator; got estimator=None. Pass a scikit-learn classifier, "
            "e.g. LogisticRegression()."
        )
    if prefit:
        try:
            check_is_fitted(estimator)
        except NotFittedError as exc:
            raise EvenhandError(
                f"{owner}(prefit=True) needs an already fitted estimator; got an unfitted "
                f"{type(estimator).__name__}. Fit it first or set prefit=False."
            ) from exc
        return estimator
    fitted = clone(estimator)
    if sample_weight is None:
        return fitted.fit(X, y)
    return fitted.fit(X, y, sample_weight=sample_weight)


def scores_of(estimator: Any, X: Any, method: str, *, owner: str) -> np.ndarray:
    """Return one real score per row, larger meaning more likely positive.

    ``"auto"`` uses ``predict_proba`` (column of the second class), then
    ``decision_function``, then ``predict``.
    """
    if method not in PREDICT_METHODS:
        raise EvenhandError(
            f"The 'predict_method' parameter of {owner} must be one of {PREDICT_METHODS}. "
            f"Got {method!r} instead."
        )
    if method == "auto":
        method = next(
            m for m in PREDICT_METHODS[1:] if hasattr(estimator, m)
        )
    out = np.asarray(getattr(estimator, method)(X), dtype=float)
    if method == "predict_proba":
        out = out[:, -1]
    if out.ndim != 1:
        raise EvenhandError(
            f"{owner} needs one score per row from {method}; got an array of shape "
            f"{out.shape}. Use a binary classifier."
        )
    return out
