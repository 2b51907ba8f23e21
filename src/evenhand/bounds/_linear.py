"""Exact score bounds for linear and logistic models, also inside per-column pipelines.

Why this is exact. A supported model computes a margin ``z(x) = c + Σ_j g_j(x_j)``:
every preprocessing step acts on each input column separately (scalers, imputers,
one-hot/ordinal encoders, routed by a ``ColumnTransformer``) and the final estimator is
linear. For a column reaching the estimator through affine steps only, ``g_j`` is affine,
so its extremes over an interval are at the endpoints (by the sign of its slope); for an
encoded column, ``g_j`` is a lookup over the column's finite set of allowed values. The box
is a product of per-column domains, so the extremes of ``z`` separate column by column, and
the score (``predict_proba``, ``decision_function`` or ``predict``) is an increasing function
of ``z``. The reported bounds are the model's own scores at the two extreme points.

The slopes and lookups are measured on the fitted model itself (one batch of probe rows),
which avoids re-implementing each transformer; only the structure is checked by type.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evenhand.bounds._model import Scorer
from evenhand.bounds._ranges import Domain

__all__ = ["linear_bounds", "linear_feature_kinds"]

_AFFINE = {
    "StandardScaler",
    "MinMaxScaler",
    "MaxAbsScaler",
    "RobustScaler",
    "SimpleImputer",
}
_LOOKUP = {"OneHotEncoder", "OrdinalEncoder", "TargetEncoder"}


def _final_is_linear(est: Any) -> bool:
    coef = getattr(est, "coef_", None)
    if coef is None:
        return False
    coef = np.asarray(coef)
    return coef.ndim == 1 or coef.shape[0] == 1


def _step_kind(step: Any) -> str | None:
    """``"affine"``, ``"lookup"``, ``"drop"`` or ``None`` (not a per-column step)."""
    if isinstance(step, str):
        return {"passthrough": "affine", "drop": "drop"}.get(step)
    if step is None:
        return "affine"
    name = type(step).__name__
    if name == "MinMaxScaler" and getattr(step, "clip", False):
        return None  # clipping makes the map non-affine
    if name == "FunctionTransformer" and step.func is None:
        return "affine"
    if name in _AFFINE:
        return "affine"
    if name in _LOOKUP:
        return "lookup"
    if name == "Pipeline":
        kinds = [_step_kind(s) for _, s in step.steps]
        if None in kinds:
            return None
        return "drop" if "drop" in kinds else ("lookup" if "lookup" in kinds else "affine")
    return None


def _combine(a: str, b: str) -> str:
    order = {"affine": 0, "lookup": 1, "drop": 2}
    return a if order[a] >= order[b] else b


def _column_transformer_kinds(ct: Any, features: list[str]) -> dict[str, str] | None:
    """Per input column of a fitted ColumnTransformer: how it reaches the output."""
    names = [str(n) for n in getattr(ct, "feature_names_in_", features)]
    kinds = dict.fromkeys(features, "drop")
    for _, trans, cols in ct.transformers_:
        kind = _step_kind(trans)
        if kind is None:
            return None
        if kind == "drop":
            continue
        selected = cols if _named(cols) else np.arange(len(names))[cols]
        for col in np.atleast_1d(selected):
            name = names[int(col)] if isinstance(col, int | np.integer) else str(col)
            # a column sent to several transformers is a lookup if any of them encodes it
            previous = kinds.get(name, "drop")
            kinds[name] = kind if previous == "drop" else _combine(previous, kind)
    return kinds


def _named(cols: Any) -> bool:
    if isinstance(cols, str):
        return True
    return isinstance(cols, list | tuple | np.ndarray) and all(isinstance(c, str) for c in cols)


def linear_feature_kinds(model: Any, features: list[str]) -> dict[str, str] | None:
    """Map each feature to ``"affine"``, ``"lookup"`` or ``"drop"``; ``None`` if unsupported."""
    steps = model.steps if type(model).__name__ == "Pipeline" else [("model", model)]
    if not _final_is_linear(steps[-1][1]):
        return None
    kinds = dict.fromkeys(features, "affine")
    for _, step in steps[:-1]:
        if type(step).__name__ == "ColumnTransformer":
            sub = _column_transformer_kinds(step, features)
            if sub is None:
                return None
            kinds = {f: _combine(kinds[f], sub.get(f, "drop")) for f in features}
            continue
        kind = _step_kind(step)
        if kind is None:
            return None
        kinds = {f: _combine(kinds[f], kind) for f in features}
    return kinds


def _probe_rows(scorer: Scorer, domains: dict[str, Domain], kinds: dict[str, str]):
    """Rows (all copies of row 0) varying one feature at a time, for slopes and lookups."""
    plan: list[tuple[str, np.ndarray]] = []
    for name, dom in domains.items():
        if kinds[name] == "affine":
            plan.append((name, np.array([0.0, 1.0])))
        else:
            plan.append((name, dom.set_values()))
    sizes = [len(v) for _, v in plan]
    total = int(sum(sizes))
    changes = {}
    for i, (name, vals) in enumerate(plan):
        col = np.repeat(scorer.columns[name][:1], total).astype(
            object if not domains[name].numeric else float
        )
        start = int(sum(sizes[:i]))
        col[start : start + len(vals)] = vals
        changes[name] = col
    return plan, sizes, changes


def _effects(scorer: Scorer, domains: dict[str, Domain], kinds: dict[str, str]) -> dict:
    """Per feature: the slope (affine) or the margin of each candidate value (lookup)."""
    plan, sizes, changes = _probe_rows(scorer, domains, kinds)
    margin = scorer.raw(np.zeros(int(sum(sizes)), dtype=np.intp), changes)
    out, start = {}, 0
    for (name, _), size in zip(plan, sizes, strict=True):
        part = margin[start : start + size]
        out[name] = part[1] - part[0] if kinds[name] == "affine" else part
        start += size
    return out


def _extreme(dom: Domain, effect: Any, kind: str, upward: bool) -> np.ndarray:
    """Return the value of one feature at the row's argmax (``upward``) or argmin of the margin."""
    sign = 1.0 if upward else -1.0
    if dom.kind == "interval":
        take_hi = sign * effect >= 0
        return np.where(np.isnan(dom.lo), dom.x.astype(float), dom.hi if take_hi else dom.lo)
    values = dom.set_values()
    gain = sign * (effect * values.astype(float) if kind == "affine" else effect)
    allowed = dom.allowed()
    pick = np.where(allowed, gain[None, :], -np.inf).argmax(axis=1)
    value = values[pick]
    keep = ~allowed.any(axis=1)  # missing recorded value: nothing else allowed
    if keep.any():
        value = value.astype(object)
        value[keep] = dom.x[keep]
    return value


def linear_bounds(
    model: Any, scorer: Scorer, domains: dict[str, Domain], base: np.ndarray
) -> dict[str, Any] | None:
    """Exact per-row score bounds and the points attaining them; ``None`` if not linear."""
    kinds = linear_feature_kinds(model, scorer.features)
    if kinds is None:
        return None
    for name, dom in domains.items():
        if kinds[name] == "lookup" and dom.kind != "set":
            return None  # an encoded column needs a finite set of values
        if kinds[name] == "drop" and dom.kind != "set":
            kinds[name] = "affine"  # an unused column is affine with slope 0 (no values to list)
    effects = _effects(scorer, domains, kinds)
    arg_hi = {n: _extreme(d, effects[n], kinds[n], True) for n, d in domains.items()}
    arg_lo = {n: _extreme(d, effects[n], kinds[n], False) for n, d in domains.items()}
    n = scorer.n
    both = scorer.score(
        np.concatenate([np.arange(n), np.arange(n)]),
        {k: np.concatenate([arg_lo[k], arg_hi[k]]) for k in domains},
    )
    # the recorded point is in the box: if an "extreme" scores past it, the score is not
    # increasing in the margin (an unusual link) and the closed form does not apply
    slack = 1e-9 * np.maximum(1.0, np.abs(base))
    if np.any(both[:n] > base + slack) or np.any(both[n:] < base - slack):
        return None
    return {
        "low": both[:n],
        "high": both[n:],
        "arg_low": arg_lo,
        "arg_high": arg_hi,
        "exact": np.ones(n, dtype=bool),
    }
