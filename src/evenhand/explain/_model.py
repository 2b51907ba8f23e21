"""Calling a fitted scikit-learn model the way it expects, and naming it.

The explainer works on *columns* (a dict of numpy arrays, one per raw feature). This
adapter turns them into what the model was fitted on (a pandas frame when the model
knows its feature names, a float matrix otherwise), splits a ``Pipeline`` into its
preprocessing and final estimator, and recognises linear and logistic final estimators
by checking numerically that they are what they claim.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import expit

from evenhand._core._errors import EvenhandError
from evenhand.explain._conformal import Task

__all__ = ["ModelAdapter", "fingerprint_arrays", "model_identity"]

NO_PROBA = (
    "The model {name} has no predict_proba, but the explainer needs probability scores "
    "for a classifier (for the score, the conformal sets and the contributions). Wrap it in "
    "sklearn.calibration.CalibratedClassifierCV, or use a classifier with predict_proba."
)


def _is_pipeline(model: Any) -> bool:
    return hasattr(model, "steps") and hasattr(model, "named_steps")


def _dense(matrix: Any) -> np.ndarray:
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    if hasattr(matrix, "to_numpy"):
        matrix = matrix.to_numpy()
    return np.asarray(matrix, dtype=float)


class ModelAdapter:
    """Score raw feature columns with ``model`` and expose its final estimator.

    Parameters
    ----------
    model : fitted estimator
        A scikit-learn classifier (binary, with ``predict_proba``) or regressor,
        optionally a ``Pipeline``.
    features : list of str
        Raw feature columns in the order the model takes them.
    """

    def __init__(self, model: Any, features: Sequence[str]) -> None:
        self.model = model
        self.features = list(features)
        self.is_classifier = _estimator_type(model) == "classifier"
        if self.is_classifier:
            self._check_classifier()
        steps = model.steps if _is_pipeline(model) else None
        self.final = steps[-1][1] if steps else model
        self.preprocess = model[:-1] if steps and len(steps) > 1 else None
        self.task: Task = "classification" if self.is_classifier else "regression"

    def _check_classifier(self) -> None:
        name = type(self.model).__name__
        if not hasattr(self.model, "predict_proba"):
            raise EvenhandError(NO_PROBA.format(name=name))
        classes = getattr(self.model, "classes_", None)
        if classes is None or len(classes) != 2:
            raise EvenhandError(
                f"The classifier {name} has classes {_as_list(classes)!r}; the explainer supports "
                "binary classifiers (two classes) and regressors. Binarise the target."
            )
        self.classes = np.asarray(classes)

    # -- calling the model -------------------------------------------------------------
    def frame(self, columns: Mapping[str, np.ndarray]) -> Any:
        """Build what the model was fitted on: a pandas frame if it knows feature names."""
        if hasattr(self.model, "feature_names_in_"):
            import pandas as pd  # a model fitted on a pandas frame implies pandas

            return pd.DataFrame({f: columns[f] for f in self.features})
        return np.column_stack([np.asarray(columns[f], dtype=float) for f in self.features])

    def score(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Positive-class probability (classification) or the prediction (regression)."""
        return self._score_native(self.frame(columns), self.model)

    def _score_native(self, x: Any, estimator: Any) -> np.ndarray:
        if self.is_classifier:
            return np.asarray(estimator.predict_proba(x), dtype=float)[:, 1]
        return np.asarray(estimator.predict(x), dtype=float).reshape(len(x), -1)[:, 0]

    def model_inputs(self, columns: Mapping[str, np.ndarray]) -> np.ndarray:
        """Return the matrix the final estimator sees (after the pipeline's preprocessing)."""
        x = self.frame(columns)
        if self.preprocess is not None:
            x = self.preprocess.transform(x)
        return _dense(x)

    def input_names(self) -> list[str]:
        """Names of the final estimator's inputs (``get_feature_names_out`` when known)."""
        if self.preprocess is None:
            return list(self.features)
        try:
            return [str(n) for n in self.preprocess.get_feature_names_out(self.features)]
        except (AttributeError, TypeError, ValueError):
            width = getattr(self.final, "n_features_in_", None)
            return [f"x{i}" for i in range(width or 0)]

    def final_frame(self, z: np.ndarray) -> Any:
        """``z`` as the final estimator expects it (named columns if it was fitted so)."""
        names = getattr(self.final, "feature_names_in_", None)
        if names is None:
            return z
        import pandas as pd

        return pd.DataFrame(z, columns=list(names))

    def final_score(self, z: np.ndarray) -> np.ndarray:
        """Score from the final estimator on model-input rows ``z``."""
        return self._score_native(self.final_frame(z), self.final)

    # -- linear structure ---------------------------------------------------------------
    def linear_parts(self, z_sample: np.ndarray) -> tuple[np.ndarray, float, str] | None:
        """``(coef, intercept, scale)`` if the final estimator is verified linear.

        ``scale`` is ``"log-odds"`` for a logistic classifier (``predict_proba`` equals
        the sigmoid of ``decision_function``) and ``"score"`` for a linear regressor
        (``predict`` equals ``z @ coef + intercept``); ``None`` if neither holds on
        ``z_sample`` to 1e-9 (relative).
        """
        coef = getattr(self.final, "coef_", None)
        intercept = getattr(self.final, "intercept_", 0.0)
        if coef is None:
            return None
        coef = np.asarray(coef, dtype=float)
        if coef.ndim == 2 and coef.shape[0] != 1:
            return None
        coef = coef.reshape(-1)
        b = float(np.asarray(intercept, dtype=float).reshape(-1)[0])
        if z_sample.shape[1] != coef.size:
            return None
        linear = z_sample @ coef + b
        if self.is_classifier:
            if not hasattr(self.final, "decision_function"):
                return None
            margin = np.asarray(self.final.decision_function(self.final_frame(z_sample)))
            proba = self.final_score(z_sample)
            ok = np.allclose(margin, linear, rtol=1e-9, atol=1e-9) and np.allclose(
                expit(margin), proba, rtol=1e-9, atol=1e-12
            )
            return (coef, b, "log-odds") if ok else None
        ok = np.allclose(self.final_score(z_sample), linear, rtol=1e-9, atol=1e-9)
        return (coef, b, "score") if ok else None

    def link_score(self, columns: Mapping[str, np.ndarray], scale: str) -> np.ndarray:
        """Return the linear predictor on raw columns: log-odds or the prediction itself."""
        if scale == "log-odds":
            z = self.model_inputs(columns)
            return np.asarray(self.final.decision_function(self.final_frame(z)), dtype=float)
        return self.score(columns)


def _as_list(values: Any) -> Any:
    return values.tolist() if hasattr(values, "tolist") else values


def _estimator_type(model: Any) -> str | None:
    try:
        from sklearn.base import is_classifier, is_regressor

        if is_classifier(model):
            return "classifier"
        if is_regressor(model):
            return "regressor"
    except (ImportError, AttributeError):  # pragma: no cover - sklearn is a core dependency
        pass
    if hasattr(model, "predict_proba") or hasattr(model, "classes_"):
        return "classifier"
    return "regressor" if hasattr(model, "predict") else None


# -- identity ---------------------------------------------------------------------------
def _canonical(value: Any) -> Any:
    """Return a JSON-able, address-free view of hyper-parameters (estimators by params)."""
    if hasattr(value, "get_params") and not isinstance(value, type):
        params = value.get_params(deep=False)
        inner = {k: _canonical(params[k]) for k in sorted(params)}
        return {"class": _qualname(value), "params": inner}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, np.ndarray):
        return hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if callable(value):
        return getattr(value, "__qualname__", type(value).__name__)
    return type(value).__name__


def _qualname(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__.split('._')[0]}.{cls.__qualname__}"


def model_identity(model: Any) -> dict[str, str]:
    """Class, SHA-256 of the hyper-parameters, and SHA-256 of the fitted object.

    The parameter hash covers ``get_params`` recursively (estimators by class and
    parameters), so two models configured alike share it; the fitted hash covers the
    pickled model (coefficients, trees), so it changes whenever the model is refitted.
    """
    params = json.dumps(_canonical(model), sort_keys=True, default=str)
    try:
        fitted = hashlib.sha256(pickle.dumps(model, protocol=5)).hexdigest()
    except (pickle.PicklingError, TypeError, AttributeError):
        fitted = "unpicklable"
    return {
        "class": _qualname(model),
        "params_sha256": hashlib.sha256(params.encode()).hexdigest(),
        "fitted_sha256": fitted,
    }


def fingerprint_arrays(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over column names, dtypes and values (order-sensitive)."""
    digest = hashlib.sha256()
    for name in arrays:
        col = np.asarray(arrays[name])
        digest.update(f"{name}:{col.dtype.kind}:{len(col)};".encode())
        if col.dtype.kind in "biuf":
            digest.update(np.ascontiguousarray(col.astype(np.float64)).tobytes())
        else:
            digest.update("\x1f".join(map(str, col.tolist())).encode())
    return digest.hexdigest()
