"""Feature contributions: exact for linear models, TreeSHAP, or sampled Shapley values.

All three give *interventional* Shapley values of the game
``v(S) = E_Z[f(x_S, Z_{not S})]`` where ``Z`` is drawn from a background sample of the
calibration data, in the space of the final estimator's inputs. They add up:
``sum_j phi_j = f(x) - E_Z[f(Z)]`` (exactly for the linear and TreeSHAP paths, and for
every sampled permutation in the sampling path).
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "is_tree_model",
    "linear_contributions",
    "sampling_shapley",
    "shap_available",
    "tree_shap",
]

_TREE_MODULES = ("sklearn.tree", "sklearn.ensemble", "xgboost", "lightgbm", "catboost")
_TREE_WORDS = ("Tree", "Forest", "GradientBoosting", "XGB", "LGBM", "CatBoost")


def shap_available() -> bool:
    """Whether the optional ``shap`` package is importable."""
    return importlib.util.find_spec("shap") is not None


def is_tree_model(estimator: Any) -> bool:
    """Return whether ``estimator`` is a tree or tree ensemble that TreeSHAP can read."""
    cls = type(estimator)
    return cls.__module__.startswith(_TREE_MODULES) and any(
        w in cls.__name__ for w in _TREE_WORDS
    )


def linear_contributions(
    z: np.ndarray, coef: np.ndarray, background_mean: np.ndarray
) -> np.ndarray:
    """``phi_ij = coef_j * (z_ij - mean_j)``: the exact Shapley values of a linear model.

    For ``f(z) = coef @ z + b`` with independent-feature (interventional) baseline
    ``mean``, each feature's Shapley value is its own term, so
    ``sum_j phi_ij = f(z_i) - f(mean)`` holds exactly (up to floating-point rounding).
    """
    return (z - background_mean[None, :]) * coef[None, :]


def tree_shap(
    estimator: Any, z: np.ndarray, background: np.ndarray, *, classifier: bool
) -> tuple[np.ndarray, float]:
    """Interventional TreeSHAP (Lundberg et al. 2020) with ``background``.

    Returns ``(phi, baseline)`` on the probability scale for classifiers (positive
    class) and the prediction scale for regressors.
    """
    output = "probability" if classifier else "raw"
    with warnings.catch_warnings():
        # shap's (and its matplotlib import's) deprecation chatter is not the caller's concern
        warnings.simplefilter("ignore")
        import shap

        explainer = shap.TreeExplainer(
            estimator, data=background, feature_perturbation="interventional",
            model_output=output,
        )
        values = np.asarray(explainer.shap_values(z), dtype=float)
    expected = np.asarray(explainer.expected_value, dtype=float).reshape(-1)
    if values.ndim == 3:  # (n, p, classes) -> positive class
        return values[:, :, -1], float(expected[-1])
    return values, float(expected[-1] if classifier else expected[0])


def sampling_shapley(
    f: Callable[[np.ndarray], np.ndarray],
    z: np.ndarray,
    background: np.ndarray,
    *,
    n_permutations: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Permutation-sampling estimate of interventional Shapley values with standard errors.

    For each of ``M = n_permutations`` draws, pick a random feature order ``pi`` and a
    background row ``b``; walk from ``b`` to ``x`` switching one feature at a time in
    that order and credit each feature with the change in ``f`` (Štrumbelj & Kononenko
    2014). The estimate is the mean credit; its standard error is the sample standard
    deviation over the ``M`` draws divided by ``sqrt(M)``. Each draw's credits add up to
    ``f(x) - f(b)``, so ``sum_j phi_j = f(x) - mean_m f(b_m)`` exactly.

    Returns ``(phi, se, baseline)``: arrays of shape ``(n, p)``, ``(n, p)`` and ``(n,)``.
    One model call per explained row, on ``M * (p + 1)`` rows.
    """
    n, p = z.shape
    m = int(n_permutations)
    phi = np.empty((n, p))
    se = np.empty((n, p))
    baseline = np.empty(n)
    steps = np.arange(p + 1)
    for i in range(n):
        perm = np.argsort(rng.random((m, p)), axis=1)
        rank = np.argsort(perm, axis=1)  # rank[m, j]: step at which feature j switches
        base = background[rng.integers(0, len(background), size=m)]
        switched = rank[:, None, :] < steps[None, :, None]  # (m, p + 1, p)
        hybrids = np.where(switched, z[i][None, None, :], base[:, None, :])
        values = f(hybrids.reshape(-1, p)).reshape(m, p + 1)
        credit = np.diff(values, axis=1)  # credit[m, k]: feature perm[m, k]
        per_feature = np.take_along_axis(credit, rank, axis=1)  # (m, p) by feature
        phi[i] = per_feature.mean(axis=0)
        se[i] = per_feature.std(axis=0, ddof=1) / np.sqrt(m) if m > 1 else np.nan
        baseline[i] = values[:, 0].mean()
    return phi, se, baseline
