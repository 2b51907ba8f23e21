"""Shapley decomposition of a gap over factor groups, with any scikit-learn outcome model.

The players are the factor groups. A coalition's value is the mean model prediction when the
coalition's columns follow group A's distribution and the other columns group B's: either on
random A/B row pairs (``"matching"``, interventional: it assumes the factor groups are
independent of each other within a group) or on B's rows reweighted by the odds of belonging
to A given the coalition's columns (``"reweighting"``: the other columns keep B's
distribution given the coalition's). Shapley values are exact over all ``2^G`` coalitions.

Row weights ``w`` (frequency weights: an integer weight ``k`` counts as ``k`` copies of its
row) make every quantity its weighted analogue:

* group means ``ȳ_g = Σ_g w y / Σ_g w``, gap ``ȳ_A − ȳ_B``;
* the outcome model is fitted with the weights (weighted least squares for the default model,
  ``fit(X, y, sample_weight=w)`` for a scikit-learn model);
* ``v(∅)``, ``v(all)`` are the weighted mean predictions over B's / A's rows;
* ``"matching"`` draws each pair's A row and B row with probabilities ``w / Σ_g w``, so a
  hybrid pair ``(i, j)`` has probability ``w_i w_j / (W_A W_B)`` and ``v(S)`` is the plain
  mean over the pairs (a row of weight 0 is never drawn);
* ``"reweighting"`` fits the group-membership logit with the weights (the columns are
  standardised with weighted moments) and averages B's predictions with weights
  ``w_j · P(A | x_S) / P(B | x_S)``;
* bootstrap replicates resample rows uniformly within each group and each drawn row keeps its
  weight, as for Oaxaca and Fairlie.

Weights that are all exactly 1 are the unweighted problem and take its code path, so they give
the unweighted result bit for bit.
"""

from __future__ import annotations

from dataclasses import replace
from math import factorial
from typing import Any

import numpy as np

from evenhand._core._errors import EvenhandError
from evenhand._decompose._design import Design
from evenhand._decompose._estimates import (
    Estimates,
    Label,
    bootstrap_replicates,
    explained_labels,
    weighted_mean,
)
from evenhand._decompose._fairlie import _NoConvergence

__all__ = ["MAX_PLAYERS", "shapley", "shapley_weights"]

MAX_PLAYERS = 8
_PREDICT_ROWS = 500_000  # hybrid rows per predict call (bounds memory)


class _ZeroWeight(_NoConvergence):
    """A group whose rows all have weight 0 (a bootstrap replicate of it is left out)."""


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


def _ols(x: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> Any:
    """(Weighted) least squares with an intercept (the default model; as LinearRegression).

    With weights, rows are scaled by ``√w``, which minimises ``Σ w (y − zβ)²``.
    """
    z = np.hstack([np.ones((x.shape[0], 1)), x])
    if w is not None:
        root = np.sqrt(w)
        z, y = z * root[:, None], y * root
    coef = np.linalg.lstsq(z, y, rcond=None)[0]
    return lambda rows: coef[0] + rows @ coef[1:]


def _weight_params(model: Any) -> list[str]:
    """Names of the fit parameters that take the sample weights (a Pipeline routes per step).

    Raises ``EvenhandError`` when the model (or a step of a Pipeline) cannot take them.
    """
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import has_fit_parameter

    if not isinstance(model, Pipeline):
        steps, prefix = [("", model)], ""
    else:
        steps = [(n, e) for n, e in model.steps if e is not None and e != "passthrough"]
        prefix = "__"
    bad = [n or type(e).__name__ for n, e in steps if not has_fit_parameter(e, "sample_weight")]
    if bad:
        raise EvenhandError(
            f"method='shapley' with weights fits the model with sample_weight, but the model "
            f"(step) {bad!r} does not accept sample_weight. Use an estimator whose fit takes "
            "sample_weight (e.g. LinearRegression, LogisticRegression, "
            "HistGradientBoostingRegressor), or pass weights=None."
        )
    return [f"{n}{prefix}sample_weight" for n, _ in steps]


def _fit_model(model: Any, x: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> Any:
    """Fit a clone of a scikit-learn ``model`` (with ``sample_weight=w`` if weighted)."""
    from sklearn.base import clone

    if w is None:
        return clone(model).fit(x, y)
    return clone(model).fit(x, y, **dict.fromkeys(_weight_params(model), w))


def _predictor(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    jann_flag: np.ndarray | None,
) -> Any:
    if jann_flag is not None:
        x = np.hstack([x, jann_flag[:, None].astype(float)])
    if model is None:
        raw = _ols(x, y, w)
    else:
        from sklearn.base import is_classifier

        est = _fit_model(model, x, y, w)
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
    w = None if design.w is None else design.w[rows]
    if ref == "neumark":
        return _predictor(model, x, y, w, None)
    if ref == "jann":
        return _predictor(model, x, y, w, in_b)
    keep = ~in_b if ref[1] == 1.0 else in_b
    return _predictor(model, x[keep], y[keep], None if w is None else w[keep], None)


def _draw(w: np.ndarray | None, n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` row positions out of ``n``: uniform, or with probabilities ``w / Σw``."""
    if w is None:
        return rng.integers(0, n, size=k)
    return rng.choice(n, size=k, p=w / w.sum())


def _coalition_values(
    predict: Any,
    xa: np.ndarray,
    xb: np.ndarray,
    wa: np.ndarray | None,
    wb: np.ndarray | None,
    col_masks: np.ndarray,
    max_pairs: int,
    rng: np.random.Generator,
) -> np.ndarray:
    # rows of weight 0 cannot be drawn, so they do not count towards the number of pairs
    na = xa.shape[0] if wa is None else np.count_nonzero(wa)
    nb = xb.shape[0] if wb is None else np.count_nonzero(wb)
    k = int(min(max_pairs, na * nb))
    pa = xa[_draw(wa, xa.shape[0], k, rng)]
    pb = xb[_draw(wb, xb.shape[0], k, rng)]
    n_coal = col_masks.shape[0]
    v = np.empty(n_coal)
    v[0] = weighted_mean(predict(xb), wb)
    v[-1] = weighted_mean(predict(xa), wa)
    per_call = max(1, _PREDICT_ROWS // k)
    inner = np.arange(1, n_coal - 1)
    for start in range(0, inner.size, per_call):
        chunk = inner[start : start + per_call]
        hybrid = np.where(col_masks[chunk][:, None, :], pa[None], pb[None])
        pred = predict(hybrid.reshape(-1, xa.shape[1])).reshape(chunk.size, k)
        v[chunk] = pred.mean(axis=1)
    return v


def _standardise(x: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Columns centred and scaled by their (weighted) mean and standard deviation."""
    mean = np.average(x, axis=0, weights=w)
    sd = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=w))
    return (x - mean) / np.where(sd > 0, sd, 1.0)


def _reweighted_values(
    predict: Any,
    xa: np.ndarray,
    xb: np.ndarray,
    wa: np.ndarray | None,
    wb: np.ndarray | None,
    col_masks: np.ndarray,
) -> np.ndarray:
    """Coalition values by reweighting B's rows so their ``S`` columns follow A's law.

    The weight of a B row is its row weight times the odds ``P(A | x_S) / P(B | x_S)`` of a
    (row-weighted) logistic regression of group membership on the coalition's (standardised)
    columns, so the other columns keep B's distribution *given* ``x_S`` (DiNardo, Fortin &
    Lemieux 1996). No overlap between the groups (perfect separation) raises
    ``_NoConvergence``.
    """
    from evenhand._decompose._fairlie import fit_binary  # Newton-IRLS: fast, no tuning

    pred_b = predict(xb)
    w = None if wa is None or wb is None else np.concatenate([wa, wb])
    x = _standardise(np.vstack([xa, xb]), w)
    is_a = np.r_[np.ones(xa.shape[0]), np.zeros(xb.shape[0])]
    v = np.empty(col_masks.shape[0])
    v[0], v[-1] = weighted_mean(pred_b, wb), weighted_mean(predict(xa), wa)
    for c in range(1, col_masks.shape[0] - 1):
        design = np.hstack([np.ones((x.shape[0], 1)), x[:, col_masks[c]]])
        log_odds = design[xa.shape[0] :] @ fit_binary(design, is_a, w, "logit")
        odds = np.exp(log_odds - log_odds.max())  # a common factor: cancels in the average
        v[c] = np.average(pred_b, weights=odds if wb is None else odds * wb)
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
    x, y, in_b = design.z[rows, 1:], design.y[rows], design.in_b[rows]
    wa, wb = (None, None) if design.w is None else (design.w[rows][~in_b], design.w[rows][in_b])
    if wa is not None and wb is not None and not (wa.sum() > 0 and wb.sum() > 0):
        raise _ZeroWeight
    predict = _fit(design, rows, ref, model)
    if equalise == "reweighting":
        v = _reweighted_values(predict, x[~in_b], x[in_b], wa, wb, col_masks)
    else:
        v = _coalition_values(predict, x[~in_b], x[in_b], wa, wb, col_masks, max_pairs, rng)
    phi = _shapley_values(v, len(design.factor_names))
    ya, yb = weighted_mean(y[~in_b], wa), weighted_mean(y[in_b], wb)
    explained = v[-1] - v[0]
    return np.concatenate([[ya, yb, ya - yb, explained], phi, [ya - yb - explained]])


def _checked_weights(design: Design, model: Any) -> Design:
    """Validate the weights; weights all 1 are dropped (they are the unweighted problem).

    Raises ``EvenhandError`` when a group's weights sum to 0 or the model cannot take weights.
    """
    w = design.w
    if w is None:
        return design
    if np.all(w == 1.0):
        return replace(design, w=None)
    for name, rows in zip(design.groups, design.slices(), strict=True):
        if not w[rows].sum() > 0:
            raise EvenhandError(
                f"Every row of group {name!r} has weight 0; each group needs a positive total "
                "weight. Check the weights column or drop that group."
            )
    if model is not None:
        _weight_params(model)
    return design


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
    """Shapley decomposition over factor groups with bootstrap replicates (model refitted).

    With ``design.w`` every quantity is its weighted analogue (see the module docstring):
    weighted group means and gap, a weighted model fit, weighted coalition values, and
    bootstrap replicates whose resampled rows keep their weights. Shapley values still sum
    to ``v(all) − v(∅)`` and the unexplained part is ``gap − explained``.

    Raises ``EvenhandError`` for more than ``MAX_PLAYERS`` factor groups, a bad option, a
    group of total weight 0, a model whose ``fit`` takes no ``sample_weight`` (with weights),
    or no overlap under ``equalise="reweighting"``.
    """
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
    if not isinstance(max_pairs, int) or max_pairs < 1:
        raise EvenhandError(
            f"The 'max_pairs' parameter must be a positive integer; got {max_pairs!r}."
        )
    if model is not None and not hasattr(model, "fit"):
        raise EvenhandError(
            f"For method='shapley' the 'model' parameter must be a scikit-learn estimator; got "
            f"{model!r}."
        )
    design = _checked_weights(design, model)
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
