"""Shapley decomposition of a gap over factor groups, with any scikit-learn outcome model.

The players are the factor groups. A coalition's value is the mean model prediction when the
coalition's columns follow group A's distribution and the other columns group B's: either on
random A/B row pairs (``"matching"``, interventional: it assumes the factor groups are
independent of each other within a group) or on B's rows reweighted by the odds of belonging
to A given the coalition's columns (``"reweighting"``: the other columns keep B's
distribution given the coalition's). Shapley values are exact over all ``2^G`` coalitions.
"""

from __future__ import annotations

from math import factorial
from typing import Any

import numpy as np

from evenhand._decompose_design import Design
from evenhand._decompose_estimates import (
    Estimates,
    Label,
    bootstrap_replicates,
    explained_labels,
)
from evenhand._decompose_fairlie import _NoConvergence
from evenhand._errors import EvenhandError

__all__ = ["MAX_PLAYERS", "shapley", "shapley_weights"]

MAX_PLAYERS = 8
_PREDICT_ROWS = 500_000  # hybrid rows per predict call (bounds memory)


def shapley_weights(n_players: int) -> np.ndarray:
    """``|S|!(G-|S|-1)!/G!`` for a coalition of each size ``|S|`` not containing the player."""
    g = n_players
    return np.array([factorial(s) * factorial(g - s - 1) / factorial(g) for s in range(g)])


def _shapley_values(v: np.ndarray, n_players: int) -> np.ndarray:
    """Exact Shapley values from the values ``v[mask]`` of all coalitions (bit masks)."""
    weights = shapley_weights(n_players)
    masks = np.arange(v.shape[0])
    sizes = np.array([bin(m).count("1") for m in masks])
    phi = np.zeros(n_players)
    for k in range(n_players):
        without = masks[(masks >> k) & 1 == 0]
        phi[k] = np.sum(weights[sizes[without]] * (v[without | (1 << k)] - v[without]))
    return phi


def _ols(x: np.ndarray, y: np.ndarray) -> Any:
    """Least squares with an intercept (the default model; same fit as LinearRegression)."""
    z = np.hstack([np.ones((x.shape[0], 1)), x])
    coef = np.linalg.lstsq(z, y, rcond=None)[0]
    return lambda rows: coef[0] + rows @ coef[1:]


def _predictor(model: Any, x: np.ndarray, y: np.ndarray, jann_flag: np.ndarray | None) -> Any:
    if jann_flag is not None:
        x = np.hstack([x, jann_flag[:, None].astype(float)])
    if model is None:
        raw = _ols(x, y)
    else:
        from sklearn.base import clone, is_classifier

        est = clone(model).fit(x, y)
        if is_classifier(est):
            raw = lambda rows: est.predict_proba(rows)[:, 1]  # noqa: E731
        else:
            raw = lambda rows: np.asarray(est.predict(rows), dtype=float)  # noqa: E731

    def predict(rows: np.ndarray) -> np.ndarray:
        if jann_flag is not None:  # evaluate with the group-B indicator set to 0
            rows = np.hstack([rows, np.zeros((rows.shape[0], 1))])
        return raw(rows)

    return predict


def _fit(design: Design, rows: np.ndarray, ref: Any, model: Any) -> Any:
    x, y, in_b = design.z[rows, 1:], design.y[rows], design.in_b[rows]
    if ref == "neumark":
        return _predictor(model, x, y, None)
    if ref == "jann":
        return _predictor(model, x, y, in_b)
    keep = ~in_b if ref[1] == 1.0 else in_b
    return _predictor(model, x[keep], y[keep], None)


def _coalition_values(
    predict: Any,
    xa: np.ndarray,
    xb: np.ndarray,
    col_masks: np.ndarray,
    max_pairs: int,
    rng: np.random.Generator,
) -> np.ndarray:
    k = int(min(max_pairs, xa.shape[0] * xb.shape[0]))
    pa = xa[rng.integers(0, xa.shape[0], size=k)]
    pb = xb[rng.integers(0, xb.shape[0], size=k)]
    n_coal = col_masks.shape[0]
    v = np.empty(n_coal)
    v[0] = np.mean(predict(xb))
    v[-1] = np.mean(predict(xa))
    per_call = max(1, _PREDICT_ROWS // k)
    inner = np.arange(1, n_coal - 1)
    for start in range(0, inner.size, per_call):
        chunk = inner[start : start + per_call]
        hybrid = np.where(col_masks[chunk][:, None, :], pa[None], pb[None])
        pred = predict(hybrid.reshape(-1, xa.shape[1])).reshape(chunk.size, k)
        v[chunk] = pred.mean(axis=1)
    return v


def _reweighted_values(
    predict: Any, xa: np.ndarray, xb: np.ndarray, col_masks: np.ndarray
) -> np.ndarray:
    """Coalition values by reweighting B's rows so their ``S`` columns follow A's law.

    The weight of a B row is the odds ``P(A | x_S) / P(B | x_S)`` of a logistic regression of
    group membership on the coalition's (standardised) columns, so the other columns keep B's
    distribution *given* ``x_S`` (DiNardo, Fortin & Lemieux 1996). No overlap between the
    groups (perfect separation) raises ``_NoConvergence``.
    """
    from evenhand._decompose_fairlie import fit_binary  # Newton-IRLS: fast, no tuning

    pred_b = predict(xb)
    x = np.vstack([xa, xb])
    x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    is_a = np.r_[np.ones(xa.shape[0]), np.zeros(xb.shape[0])]
    v = np.empty(col_masks.shape[0])
    v[0], v[-1] = np.mean(pred_b), np.mean(predict(xa))
    for c in range(1, col_masks.shape[0] - 1):
        design = np.hstack([np.ones((x.shape[0], 1)), x[:, col_masks[c]]])
        log_odds = design[xa.shape[0] :] @ fit_binary(design, is_a, None, "logit")
        v[c] = np.average(pred_b, weights=np.exp(log_odds - log_odds.max()))
    return v


def _estimate(
    design: Design,
    rows: np.ndarray,
    ref: Any,
    model: Any,
    col_masks: np.ndarray,
    max_pairs: int,
    equalise: str,
    rng: np.random.Generator,
) -> np.ndarray:
    predict = _fit(design, rows, ref, model)
    x, y, in_b = design.z[rows, 1:], design.y[rows], design.in_b[rows]
    if equalise == "reweighting":
        v = _reweighted_values(predict, x[~in_b], x[in_b], col_masks)
    else:
        v = _coalition_values(predict, x[~in_b], x[in_b], col_masks, max_pairs, rng)
    phi = _shapley_values(v, len(design.factor_names))
    ya, yb = float(np.mean(y[~in_b])), float(np.mean(y[in_b]))
    explained = v[-1] - v[0]
    return np.concatenate([[ya, yb, ya - yb, explained], phi, [ya - yb - explained]])


def shapley(
    design: Design,
    *,
    reference: Any,
    model: Any,
    n_boot: int,
    max_pairs: int,
    equalise: str,
    rng: np.random.Generator,
) -> Estimates:
    """Shapley decomposition over factor groups with bootstrap replicates (model refitted)."""
    if equalise not in ("matching", "reweighting"):
        raise EvenhandError(
            f"The 'equalise' parameter must be 'matching' or 'reweighting'; got {equalise!r}."
        )
    n_players = len(design.factor_names)
    if n_players > MAX_PLAYERS:
        raise EvenhandError(
            f"method='shapley' is exact over all coalitions and allows at most {MAX_PLAYERS} "
            f"factor groups; got {n_players}: {design.factor_names!r}. Merge factor groups."
        )
    if design.w is not None:
        raise EvenhandError(
            "method='shapley' does not support row weights yet; pass weights=None or use "
            "method='oaxaca' or 'fairlie'."
        )
    if not isinstance(max_pairs, int) or max_pairs < 1:
        raise EvenhandError(
            f"The 'max_pairs' parameter must be a positive integer; got {max_pairs!r}."
        )
    if model is not None and not hasattr(model, "fit"):
        raise EvenhandError(
            f"For method='shapley' the 'model' parameter must be a scikit-learn estimator; got "
            f"{model!r}."
        )
    player = {f: i for i, f in enumerate(design.factor_names)}
    owner = np.array([player[f] for f in design.factors[1:]])
    col_masks = np.array([[(m >> o) & 1 == 1 for o in owner] for m in range(1 << n_players)])
    everything = np.arange(design.y.shape[0])
    try:
        value = _estimate(design, everything, reference, model, col_masks, max_pairs, equalise, rng)
    except _NoConvergence as exc:
        raise EvenhandError(
            "equalise='reweighting' needs the two groups to overlap on every coalition of "
            "factor groups, but a logistic regression of group membership separates them "
            "perfectly. Use equalise='matching' or merge sparse categories."
        ) from exc
    boot = None
    if n_boot > 0:
        # a replicate without overlap is left out of the intervals
        boot = bootstrap_replicates(
            design.in_b,
            n_boot,
            value.shape[0],
            rng,
            lambda rows: _estimate(
                design, rows, reference, model, col_masks, max_pairs, equalise, rng
            ),
            _NoConvergence,
        )
    labels = explained_labels(design.groups, design.factor_names)
    labels.append(Label("unexplained", "total"))
    return Estimates(labels, value, boot, None)
