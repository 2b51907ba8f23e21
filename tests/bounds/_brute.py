"""Brute-force oracle: score every point of a fine grid of each row's box."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd


def grid_values(x, spec, column, step, extra=()):
    """The grid of allowed values for one recorded value ``x`` under ``spec``.

    ``extra`` points (e.g. just either side of a tree threshold) are added when they lie in
    the interval, so narrow cells between thresholds are not skipped.
    """
    if spec == "any":
        return list(np.unique(column))
    if isinstance(spec, list | tuple | set):
        return sorted({x, *spec}, key=str)
    width = abs(x) * float(spec[:-1]) / 100 if isinstance(spec, str) else float(spec)
    count = round(2 * width / step) + 1
    grid = np.linspace(x - width, x + width, max(count, 2))
    extra = np.asarray(extra, dtype=float)
    inside = extra[(extra >= x - width) & (extra <= x + width)]
    return list(np.concatenate([grid, inside]))


def brute_bounds(model, df: pd.DataFrame, ranges: dict, step: float = 0.05, score=None,
                 extra=None):
    """Per-row (min, max) of the model's score over the grid of the row's box."""
    score = score or (lambda X: model.predict_proba(X)[:, 1])
    names = list(ranges)
    frames, owner = [], []
    for i in range(len(df)):
        row = df.iloc[i]
        grids = [
            grid_values(row[n], ranges[n], df[n].to_numpy(), step, (extra or {}).get(n, ()))
            for n in names
        ]
        combos = list(itertools.product(*grids))
        X = pd.DataFrame([row.to_dict()] * len(combos))
        for j, n in enumerate(names):
            X[n] = [c[j] for c in combos]
        frames.append(X)
        owner.append(np.full(len(combos), i))
    X = pd.concat(frames, ignore_index=True)[list(model.feature_names_in_)]
    s = pd.Series(score(X))
    by = s.groupby(np.concatenate(owner))
    return by.min().to_numpy(), by.max().to_numpy()


def tree_thresholds(model, feature: int) -> np.ndarray:
    """Every threshold a scikit-learn tree ensemble uses on ``feature``, nudged both ways."""
    if hasattr(model, "tree_"):
        t = model.tree_.threshold[model.tree_.feature == feature]
    elif hasattr(model, "_predictors"):
        nodes = [p[0].nodes for p in model._predictors]
        t = np.concatenate([n["num_threshold"][(n["feature_idx"] == feature) & ~n["is_leaf"]]
                            for n in nodes])
    else:
        trees = np.ravel(model.estimators_)
        t = np.concatenate([e.tree_.threshold[e.tree_.feature == feature] for e in trees])
    t = np.unique(t)
    return np.concatenate([t - 1e-4, t + 1e-4])
