"""Fitting or reusing the wrapped estimator of a post-processor and reading its scores."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from evenhand._core._errors import EvenhandError
from evenhand.mitigate._validation import (
    binary_target,
    check_sample_weight,
    copy_n_features_in,
    encode_groups,
    group_codes,
    require_both_classes,
    require_group_weight,
)

__all__ = [
    "PREDICT_METHODS",
    "fit_or_check",
    "fit_post_estimator",
    "post_fit_inputs",
    "post_predict_inputs",
    "scores_of",
]

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


def post_fit_inputs(
    post: Any, y: Any, sensitive_features: Any, sample_weight: Any,
    *, allowed: tuple[str, ...], owner: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check a post-processor's ``constraints`` and fit inputs; return ``(y01, codes, weight)``.

    Sets ``post.classes_`` and ``post.groups_`` as soon as each is known.
    """
    if post.constraints not in allowed:
        raise EvenhandError(
            f"The 'constraints' parameter of {owner} must be one of {set(allowed)}. "
            f"Got {post.constraints!r} instead."
        )
    y01, post.classes_ = binary_target(y, owner=owner)
    codes, post.groups_ = encode_groups(sensitive_features, len(y01), owner=owner)
    if post.constraints != "demographic_parity":
        require_both_classes(codes, post.groups_, y01, post.classes_, owner=owner,
                             what=f"constraints={post.constraints!r}")
    weight = check_sample_weight(sample_weight, len(y01))
    require_group_weight(codes, post.groups_, weight, owner=owner)
    return y01, codes, weight


def fit_post_estimator(
    post: Any, X: Any, y01: np.ndarray, sample_weight: Any, method: str, *, owner: str
) -> np.ndarray:
    """Fit (or reuse) ``post.estimator`` as ``post.estimator_``; return its scores on ``X``."""
    post.estimator_ = fit_or_check(post.estimator, X, post.classes_[y01], sample_weight,
                                   prefit=post.prefit, owner=owner)
    copy_n_features_in(post, post.estimator_)
    return scores_of(post.estimator_, X, method, owner=owner)


def post_predict_inputs(
    post: Any, X: Any, sensitive_features: Any, method: str, *, fitted: str, owner: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, codes)`` of new rows for a fitted post-processor."""
    check_is_fitted(post, fitted)
    scores = scores_of(post.estimator_, X, method, owner=owner)
    codes = group_codes(sensitive_features, post.groups_, len(scores), owner=owner,
                        method="predict")
    return scores, codes
