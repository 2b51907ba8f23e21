"""Calling a fitted model on (modified) rows: feature names, input frames and the score."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evenhand._core._errors import EvenhandError

__all__ = ["Scorer", "model_features", "named_frame"]

# Rows per model call: large enough to amortise call overhead, small enough for memory.
CHUNK_ROWS = 262_144


def model_features(model: Any, features: Sequence[str] | None) -> list[str]:
    """Return the model's input columns: ``features`` or the model's ``feature_names_in_``."""
    if features is not None:
        if isinstance(features, str) or not all(isinstance(f, str) for f in features):
            raise EvenhandError(
                f"features must be a list of column names; got {features!r}."
            )
        return list(features)
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise EvenhandError(
            f"The model {type(model).__name__} was fitted without column names, so evenhand "
            "cannot tell which columns it uses; got features=None. Pass features=[...] in "
            "the order the model was fitted with."
        )
    return [str(n) for n in names]


def _score_kind(model: Any) -> str:
    if hasattr(model, "predict_proba"):
        classes = getattr(model, "classes_", None)
        if classes is not None and len(classes) != 2:
            raise EvenhandError(
                f"certify needs a binary classifier or a regressor; the model has "
                f"{len(classes)} classes, got classes_={list(classes)!r}. Fit a one-vs-rest "
                "model per class."
            )
        return "proba"
    if hasattr(model, "decision_function"):
        return "decision"
    if hasattr(model, "predict"):
        return "predict"
    raise EvenhandError(
        f"model must be a fitted estimator with predict_proba, decision_function or predict; "
        f"got {type(model).__name__}."
    )


class Scorer:
    """Score rows of the data, optionally with some feature values replaced.

    The score is ``predict_proba(X)[:, 1]`` for classifiers, else ``decision_function``,
    else ``predict``. Inputs are built as a pandas DataFrame when the model knows its column
    names (so scikit-learn checks them), else as a 2-D array in ``features`` order.
    """

    def __init__(self, model: Any, features: Sequence[str], columns: Mapping[str, np.ndarray]):
        self.model = model
        self.features = list(features)
        self.columns = {f: np.asarray(columns[f]) for f in self.features}
        self.n = next(iter(self.columns.values())).shape[0] if self.columns else 0
        self.kind = _score_kind(model)
        self.named = getattr(model, "feature_names_in_", None) is not None
        self.calls = 0

    def frame(
        self, rows: np.ndarray | None = None, changes: Mapping[str, np.ndarray] | None = None
    ) -> Any:
        """Build the model input for ``rows`` (all when ``None``) with ``changes`` applied."""
        changes = changes or {}
        cols = {}
        for f in self.features:
            if f in changes:
                cols[f] = np.asarray(changes[f])
            else:
                base = self.columns[f]
                cols[f] = base if rows is None else base[rows]
        if self.named:
            return named_frame(cols)
        arrays = list(cols.values())
        if all(a.dtype.kind in "biuf" for a in arrays):
            return np.column_stack([a.astype(float) for a in arrays])
        return np.column_stack([a.astype(object) for a in arrays])

    def _call(self, method: str, X: Any) -> np.ndarray:
        self.calls += 1
        try:
            out = np.asarray(getattr(self.model, method)(X))
        except ValueError as exc:
            if isinstance(exc, EvenhandError):
                raise
            raise EvenhandError(
                f"The model's {method} rejected the rows evenhand built ({exc}). Check that "
                "features holds the model's inputs and that ranges only allow values the "
                f"model accepts; got features={self.features[:20]}."
            ) from exc
        return out[:, 1] if method == "predict_proba" else out.reshape(out.shape[0], -1)[:, 0]

    def score(
        self, rows: np.ndarray | None = None, changes: Mapping[str, np.ndarray] | None = None
    ) -> np.ndarray:
        """Return the model's score for ``rows`` with ``changes`` applied."""
        method = {"proba": "predict_proba", "decision": "decision_function"}.get(
            self.kind, "predict"
        )
        return self.call(method, rows, changes)

    def raw(
        self, rows: np.ndarray | None = None, changes: Mapping[str, np.ndarray] | None = None
    ) -> np.ndarray:
        """Return the margin: ``decision_function`` when available, else ``predict``."""
        method = "decision_function" if hasattr(self.model, "decision_function") else "predict"
        return self.call(method, rows, changes)

    def call(
        self,
        method: str,
        rows: np.ndarray | None = None,
        changes: Mapping[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Call ``method`` in chunks of at most :data:`CHUNK_ROWS` rows."""
        size = self.n if rows is None else rows.shape[0]
        if size <= CHUNK_ROWS:
            return self._call(method, self.frame(rows, changes))
        idx = np.arange(self.n) if rows is None else rows
        parts = []
        for start in range(0, size, CHUNK_ROWS):
            sl = slice(start, start + CHUNK_ROWS)
            part = {k: np.asarray(v)[sl] for k, v in (changes or {}).items()}
            parts.append(self._call(method, self.frame(idx[sl], part)))
        return np.concatenate(parts)


def named_frame(cols: Mapping[str, np.ndarray]) -> Any:
    """Return a pandas DataFrame of ``cols`` (polars when pandas is absent)."""
    try:
        import pandas as pd
    except ImportError:  # scikit-learn also reads polars frames by column name
        import polars as pl

        return pl.DataFrame(dict(cols))
    return pd.DataFrame(dict(cols), copy=False)
