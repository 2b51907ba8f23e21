"""Input checks shared by the mitigation estimators.

Sensitive features arrive as a keyword argument of ``fit``/``predict`` (1-D or 2-D
array-like; several columns are combined into one group per distinct row).  They are
encoded once into integer codes so every later computation is a ``bincount``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import DataConversionWarning
from sklearn.utils import get_tags
from sklearn.utils.multiclass import type_of_target

from evenhand._core._errors import EvenhandError

__all__ = [
    "MISSING_SENSITIVE",
    "MISSING_SENSITIVE_FUNCTION",
    "SINGLE_CLASS_GROUP",
    "UNSEEN_GROUP",
    "binary_only_tags",
    "binary_target",
    "check_sample_weight",
    "copy_n_features_in",
    "encode_groups",
    "group_codes",
    "inherit_sparse_tag",
    "real_target",
    "require_both_classes",
    "require_group_weight",
]

MISSING_SENSITIVE = (
    "{owner}.{method} requires the keyword argument sensitive_features (one group label "
    "per row); got None. Pass sensitive_features=..., or inside a Pipeline or "
    "GridSearchCV call set_{method}_request(sensitive_features=True) on {owner} and "
    "enable metadata routing with sklearn.set_config(enable_metadata_routing=True)."
)
MISSING_SENSITIVE_FUNCTION = (
    "{owner} requires the keyword argument sensitive_features (one group label per row); "
    "got None. Pass sensitive_features=..."
)
UNSEEN_GROUP = (
    "sensitive_features contains group {group!r}, which was not seen during fit (the "
    "fitted groups are {known!r}). Refit with data containing that group, or map it to a "
    "fitted group."
)
SINGLE_CLASS_GROUP = (
    "Group {group!r} of sensitive_features has only label {label!r} in y ({count} rows); "
    "{owner} with {what} needs both classes in every group. Merge the group with another, "
    "drop it, or choose a constraint that does not condition on the label."
)


def _as_2d_labels(sensitive_features: Any) -> np.ndarray:
    """Return the sensitive features as a 2-D object-free numpy array of row labels."""
    if hasattr(sensitive_features, "to_numpy"):  # pandas / polars Series and DataFrames
        values = sensitive_features.to_numpy()
    else:
        values = np.asarray(sensitive_features)
    if values.ndim == 0:
        raise EvenhandError(
            f"sensitive_features must be one label per row (1-D) or one column per feature "
            f"(2-D); got the scalar {sensitive_features!r}."
        )
    return values.reshape(len(values), -1)


def _row_labels(values: np.ndarray) -> np.ndarray:
    """Collapse each row of a 2-D label array into one hashable label."""
    if values.shape[1] == 1:
        column = values[:, 0]
        return column.astype(str) if column.dtype == object else column
    return np.array(["|".join(map(str, row)) for row in values.tolist()], dtype=object)


def _rows_of(sensitive_features: Any, n_rows: int, owner: str, method: str | None) -> np.ndarray:
    """One label per row, after checking presence and length."""
    if sensitive_features is None:
        template = MISSING_SENSITIVE if method else MISSING_SENSITIVE_FUNCTION
        raise EvenhandError(template.format(owner=owner, method=method))
    values = _as_2d_labels(sensitive_features)
    if values.shape[0] != n_rows:
        raise EvenhandError(
            f"sensitive_features has {values.shape[0]} rows but X has {n_rows}; got "
            f"sensitive_features of shape {values.shape}. Pass one group label per row of X."
        )
    return _row_labels(values)


def encode_groups(
    sensitive_features: Any, n_rows: int, *, owner: str, method: str | None = "fit"
) -> tuple[np.ndarray, np.ndarray]:
    """Encode ``sensitive_features`` into ``(codes, labels)`` for training.

    ``codes[i]`` indexes ``labels``; ``labels`` is sorted. ``method`` is None when the
    caller is a function rather than an estimator method.
    """
    labels, codes = np.unique(_rows_of(sensitive_features, n_rows, owner, method),
                              return_inverse=True)
    return codes.astype(np.intp), labels


def group_codes(
    sensitive_features: Any, labels: np.ndarray, n_rows: int, *, owner: str, method: str
) -> np.ndarray:
    """Map ``sensitive_features`` at predict time onto the fitted ``labels``.

    Raises :class:`EvenhandError` for a group unseen during ``fit``.
    """
    rows = _rows_of(sensitive_features, n_rows, owner, method)
    try:
        codes = np.searchsorted(labels, rows)
    except TypeError:  # labels of another type than at fit, e.g. str vs int
        codes = np.zeros(len(rows), dtype=np.intp)
    codes = np.clip(codes, 0, len(labels) - 1)
    unseen = labels[codes] != rows
    if np.any(unseen):
        group = rows[np.argmax(unseen)]
        raise EvenhandError(UNSEEN_GROUP.format(group=_plain(group), known=labels.tolist()))
    return codes.astype(np.intp)


def _plain(value: Any) -> Any:
    """Return a numpy scalar as the equivalent Python scalar (for readable messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _column_to_1d(y: np.ndarray) -> np.ndarray:
    """Ravel a column vector with sklearn's DataConversionWarning; leave others alone."""
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change the "
            "shape of y to (n_samples,), for example using ravel().",
            DataConversionWarning,
            stacklevel=3,
        )
        return y.ravel()
    return y


def binary_target(y: Any, *, owner: str) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(y01, classes)`` for a binary target; raise for anything else."""
    if y is None:
        raise EvenhandError(
            f"{owner} requires y to be passed, but the target y is None. Pass the labels."
        )
    y = _column_to_1d(np.asarray(y))
    if y.ndim != 1:
        raise EvenhandError(f"{owner} needs a 1-D target y; got an array of shape {y.shape}.")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        bad = y[~np.isfinite(y)][0]
        what = "NaN" if np.isnan(bad) else "infinity or a value too large for dtype"
        raise EvenhandError(
            f"Input y contains {what}. {owner} needs a finite label in every row; got "
            f"{bad.item()!r}. Drop or impute those rows."
        )
    kind = type_of_target(y)
    if kind.startswith("continuous"):
        raise EvenhandError(
            f"Unknown label type: {kind}. {owner} needs class labels in y, not a continuous "
            f"target; got values such as {y[:3].tolist()!r}."
        )
    classes, y01 = np.unique(y, return_inverse=True)
    if len(classes) != 2:
        raise EvenhandError(
            f"Only binary classification is supported. {owner} needs y with exactly two "
            f"classes; got {len(classes)} class(es) {classes[:10].tolist()!r}."
        )
    return y01.astype(np.int8), classes


def real_target(y: Any, *, owner: str) -> np.ndarray:
    """Return a finite 1-D float target for regression; raise for anything else."""
    if y is None:
        raise EvenhandError(
            f"{owner} requires y to be passed, but the target y is None. Pass the targets."
        )
    y = np.asarray(y)
    if np.iscomplexobj(y):
        raise EvenhandError(f"Complex data not supported: {owner} got a complex target y.")
    y = _column_to_1d(y).astype(float)
    if y.ndim != 1 or not np.all(np.isfinite(y)):
        raise EvenhandError(
            f"{owner} needs a 1-D finite target y; got shape {y.shape} "
            f"with {int(np.sum(~np.isfinite(y)))} non-finite values."
        )
    return y


def check_sample_weight(sample_weight: Any, n_rows: int) -> np.ndarray:
    """Return float sample weights (ones when ``None``); they must be finite and ≥ 0."""
    if sample_weight is None:
        return np.ones(n_rows)
    weight = np.asarray(sample_weight, dtype=float).ravel()
    if weight.shape[0] != n_rows:
        raise EvenhandError(
            f"sample_weight has {weight.shape[0]} entries but X has {n_rows} rows. "
            "Pass one weight per row."
        )
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise EvenhandError(
            "sample_weight must be finite and non-negative; got a value of "
            f"{weight[~np.isfinite(weight) | (weight < 0)][0]!r}."
        )
    if weight.sum() <= 0:
        raise EvenhandError(
            "sample_weight sums to zero (all weights are zero); give some rows a positive "
            "weight."
        )
    return weight


def require_both_classes(
    codes: np.ndarray, labels: np.ndarray, y01: np.ndarray, classes: np.ndarray,
    *, owner: str, what: str,
) -> None:
    """Raise if some group has only one class of ``y``."""
    positives = np.bincount(codes, weights=y01, minlength=len(labels))
    counts = np.bincount(codes, minlength=len(labels))
    bad = np.flatnonzero((positives == 0) | (positives == counts))
    if bad.size:
        g = bad[0]
        label = classes[1] if positives[g] == counts[g] else classes[0]
        raise EvenhandError(
            SINGLE_CLASS_GROUP.format(
                group=_plain(labels[g]), label=_plain(label), count=int(counts[g]),
                owner=owner, what=what,
            )
        )


def require_group_weight(
    codes: np.ndarray, labels: np.ndarray, weight: np.ndarray, *, owner: str
) -> None:
    """Raise if a group's rows all have zero weight (its class rates are undefined)."""
    totals = np.bincount(codes, weights=weight, minlength=len(labels))
    empty = np.flatnonzero(totals <= 0)
    if empty.size:
        raise EvenhandError(
            f"Group {_plain(labels[empty[0]])!r} of sensitive_features has zero total "
            f"sample_weight, so {owner} cannot estimate its class rates; give its rows a "
            "positive weight or drop them."
        )


def inherit_sparse_tag(tags: Any, estimator: Any) -> Any:
    """Accept sparse ``X`` exactly when the wrapped ``estimator`` does; return ``tags``."""
    if estimator is not None:  # X only goes to the estimator
        tags.input_tags.sparse = get_tags(estimator).input_tags.sparse
    return tags


def binary_only_tags(tags: Any, estimator: Any) -> Any:
    """Tags of a binary classifier whose ``X`` only goes to ``estimator``."""
    tags.classifier_tags.multi_class = False  # binary labels only
    return inherit_sparse_tag(tags, estimator)


def copy_n_features_in(owner: Any, fitted: Any) -> None:
    """Set ``owner.n_features_in_`` from ``fitted`` when it has one."""
    if hasattr(fitted, "n_features_in_"):
        owner.n_features_in_ = fitted.n_features_in_
