"""Score bounds for decision trees and tree ensembles by box–leaf intersection.

A tree sends ``x`` left at a node when ``x[f] <= threshold`` (scikit-learn compares in
float32 for ``DecisionTree*``, ``RandomForest*``, ``ExtraTrees*`` and ``GradientBoosting*``,
in float64 for ``HistGradientBoosting*``; a missing value follows the node's missing-value
direction). A row's box reaches a leaf exactly when, for every feature, the row's domain
meets the leaf's interval ``(low, high]``. The descent keeps both children whenever the
domain has a value on each side of the threshold; for interval domains these per-split
tests are exact, and for finite sets of values the reached leaves are re-checked against
the leaf's full interval.

- Single tree: the row's score range is exactly ``[min, max]`` of the reached leaves'
  values, attained at a witness point inside the box and the leaf.
- Ensemble ``raw = offset + scale · Σ_t tree_t(x)`` followed by an increasing link: summing
  each tree's own minimum (maximum) gives a sound outer bound, generally not attained,
  because different trees may reach their extremes at different points of the box.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.special import expit

from evenhand.bounds._model import Scorer
from evenhand.bounds._ranges import Domain

__all__ = ["TreeModel", "extract_trees", "tree_bounds"]

_LINKS = {
    "identity": lambda r: r,
    "expit": expit,
    "expit2": lambda r: expit(2.0 * r),
    "exp": np.exp,
}


@dataclass(frozen=True)
class FlatTree:
    """One tree as flat arrays; ``feature < 0`` marks a leaf."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    missing_left: np.ndarray

    @functools.cached_property
    def looped(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        """Arrays where each leaf splits on feature 0 at +inf into itself, and the depth."""
        leaf = self.feature < 0
        nodes = np.arange(self.feature.shape[0])
        return (
            np.where(leaf, 0, self.feature),
            np.where(leaf, np.inf, self.threshold),
            np.where(leaf, nodes, self.left),
            np.where(leaf, nodes, self.right),
            self.missing_left | leaf,
            int(self.parent_depth[1].max()),
        )

    @functools.cached_property
    def parent_depth(self) -> tuple[np.ndarray, np.ndarray]:
        """Each node's parent (``-1`` at the root) and depth."""
        n_nodes = self.feature.shape[0]
        parent = np.full(n_nodes, -1, dtype=np.intp)
        depth = np.zeros(n_nodes, dtype=np.intp)
        frontier = np.array([0])
        while frontier.size:
            inner = frontier[self.feature[frontier] >= 0]
            for child in (self.left[inner], self.right[inner]):
                parent[child] = inner
                depth[child] = depth[inner] + 1
            frontier = np.concatenate([self.left[inner], self.right[inner]])
        return parent, depth

    def common_ancestor(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Return the deepest node above both ``a[i]`` and ``b[i]``, row by row."""
        parent, depth = self.parent_depth
        a, b = a.copy(), b.copy()
        while True:
            differ = a != b
            if not differ.any():
                return a
            up_a = differ & (depth[a] >= depth[b])
            up_b = differ & (depth[b] >= depth[a])
            a[up_a] = parent[a[up_a]]
            b[up_b] = parent[b[up_b]]


@dataclass(frozen=True)
class TreeModel:
    """A tree or a sum of trees: ``score = link(offset + scale · Σ_t value_t(x))``."""

    trees: list[FlatTree]
    scale: float
    offset: float
    link: str
    float32: bool
    compiled: list[Any] | None = None

    @property
    def single(self) -> bool:
        """Whether the model is one tree (bounds are then exact)."""
        return len(self.trees) == 1

    def thresholds(self, feature: int) -> np.ndarray:
        """Sorted distinct thresholds used on ``feature`` across all trees."""
        parts = [t.threshold[t.feature == feature] for t in self.trees]
        return np.unique(np.concatenate(parts)) if parts else np.empty(0)

    def up(self, t: np.ndarray) -> np.ndarray:
        """Return the smallest input value the model sees as strictly above ``t``."""
        t = np.asarray(t, dtype=float)
        if not self.float32:
            return np.nextafter(t, np.inf)
        u = t.astype(np.float32)
        u = np.where(u > t, u, np.nextafter(u, np.float32(np.inf)))
        return u.astype(float)

    def down(self, t: np.ndarray) -> np.ndarray:
        """Return the largest input value the model sees as at most ``t``."""
        t = np.asarray(t, dtype=float)
        if not self.float32:
            return t
        u = t.astype(np.float32)
        u = np.where(u <= t, u, np.nextafter(u, np.float32(-np.inf)))
        return u.astype(float)

    def seen(self, x: np.ndarray) -> np.ndarray:
        """Return the value the model compares after its own input cast."""
        x = np.asarray(x, dtype=float)
        return x.astype(np.float32).astype(float) if self.float32 else x


def _sk_tree(est: Any, classifier: bool) -> FlatTree:
    t = est.tree_
    value = t.value[:, 0, :]
    if classifier:
        total = value.sum(axis=1)
        v = np.divide(value[:, 1], total, out=np.zeros_like(total), where=total > 0)
    else:
        v = value[:, 0]
    missing = getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=np.uint8))
    feature = np.where(t.children_left < 0, -1, t.feature).astype(np.intp)
    return FlatTree(
        feature, t.threshold.astype(float), t.children_left.astype(np.intp),
        t.children_right.astype(np.intp), v.astype(float), np.asarray(missing, dtype=bool),
    )


def _hgb_tree(predictor: Any) -> FlatTree:
    nodes = predictor.nodes
    feature = np.where(nodes["is_leaf"].astype(bool), -1, nodes["feature_idx"]).astype(np.intp)
    return FlatTree(
        feature, nodes["num_threshold"].astype(float), nodes["left"].astype(np.intp),
        nodes["right"].astype(np.intp), nodes["value"].astype(float),
        nodes["missing_go_to_left"].astype(bool),
    )


def _structure(model: Any) -> TreeModel | None:
    name = type(model).__name__
    classifier = hasattr(model, "predict_proba")
    if name in {"DecisionTreeClassifier", "DecisionTreeRegressor", "ExtraTreeClassifier",
                "ExtraTreeRegressor"}:
        return TreeModel([_sk_tree(model, classifier)], 1.0, 0.0, "identity", True)
    if name in {"RandomForestClassifier", "RandomForestRegressor", "ExtraTreesClassifier",
                "ExtraTreesRegressor"}:
        trees = [_sk_tree(e, classifier) for e in model.estimators_]
        return TreeModel(trees, 1.0 / len(trees), 0.0, "identity", True)
    if name in {"GradientBoostingClassifier", "GradientBoostingRegressor"}:
        init = getattr(model, "init_", None)
        if model.estimators_.shape[1] != 1 or not (
            init == "zero" or type(init).__name__ in {"DummyClassifier", "DummyRegressor"}
        ):
            return None
        trees = [_sk_tree(e, False) for e in model.estimators_[:, 0]]
        link = {"exponential": "expit2"}.get(model.loss, "expit") if classifier else "identity"
        return TreeModel(trees, float(model.learning_rate), 0.0, link, True)
    if name in {"HistGradientBoostingClassifier", "HistGradientBoostingRegressor"}:
        if getattr(model, "is_categorical_", None) is not None and np.any(model.is_categorical_):
            return None
        if any(len(p) != 1 for p in model._predictors):
            return None
        trees = [_hgb_tree(p[0]) for p in model._predictors]
        offset = float(np.ravel(model._baseline_prediction)[0])
        link = "expit" if classifier else ("exp" if model.loss in {"poisson", "gamma"}
                                           else "identity")
        return TreeModel(trees, 1.0, offset, link, False)
    return None


def _point_raw(tm: TreeModel, X: np.ndarray) -> np.ndarray:
    total = np.zeros(X.shape[0])
    for tree in tm.trees:
        rows, leaves = _leaf_pairs(tree, X, X)
        total[rows] += tree.value[leaves]
    return total


def extract_trees(model: Any, scorer: Scorer, X: np.ndarray) -> TreeModel | None:
    """Read the model's trees; ``None`` if unsupported or if they do not reproduce its scores.

    Offsets (e.g. the prior of gradient boosting) are measured on the first rows, and the
    whole decomposition ``link(offset + scale Σ tree)`` is checked against the model's own
    scores on up to 64 rows, so a change in scikit-learn internals cannot go unnoticed.
    """
    try:
        tm = _structure(model)
    except (AttributeError, KeyError, IndexError, ValueError):
        return None
    if tm is None or scorer.n == 0:
        return None
    rows = np.arange(min(scorer.n, 64))
    Xs = np.where(np.isnan(X[rows]), np.nan, tm.seen(X[rows]))
    summed = tm.scale * _point_raw(tm, Xs)
    if tm.link != "identity" or type(model).__name__.startswith(("Gradient", "Hist")):
        raw = scorer.raw(rows)
        offset = float(np.median(raw - summed))
        tm = replace(tm, offset=offset)
    predicted = _LINKS[tm.link](tm.offset + summed)
    if not np.allclose(predicted, scorer.score(rows), rtol=1e-9, atol=1e-9):
        return None
    return replace(tm, compiled=_compiled_trees(model))


def _compiled_trees(model: Any) -> list[Any] | None:
    """Return the scikit-learn ``Tree`` objects; their compiled ``apply`` finds leaves."""
    if hasattr(model, "tree_"):
        return [model.tree_]
    if type(model).__name__.startswith("Hist") or not hasattr(model, "estimators_"):
        return None
    return [e.tree_ for e in np.ravel(model.estimators_)]


def _leaf_pairs(
    tree: FlatTree, lo: np.ndarray, hi: np.ndarray, start: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """All ``(row, leaf)`` pairs where the row's box may reach the leaf.

    The descent starts at ``start`` (a node every point of the row's box passes through),
    else at the root. Leaves loop onto themselves (threshold +inf, both children itself),
    so a fixed number of vectorised steps — the tree's depth — reaches every leaf without
    filtering finished pairs; a pair is duplicated only where the box straddles a split.
    """
    feature, threshold, left, right, miss_left, depth = tree.looped
    rows = np.arange(lo.shape[0])
    nodes = np.zeros(lo.shape[0], dtype=np.intp) if start is None else start.copy()
    has_nan = bool(np.isnan(lo).any())
    for _ in range(depth):
        f = feature[nodes]
        t = threshold[nodes]
        low, high = lo[rows, f], hi[rows, f]
        go_left, go_right = low <= t, high > t
        if has_nan:
            nan = np.isnan(low)
            go_left = np.where(nan, miss_left[nodes], go_left)
            go_right = np.where(nan, ~miss_left[nodes], go_right)
        both = go_left & go_right
        step = np.where(go_left, left[nodes], right[nodes])
        if both.any():
            rows = np.concatenate([rows, rows[both]])
            step = np.concatenate([step, right[nodes[both]]])
        nodes = step
    return rows, nodes


def _node_bounds(tree: FlatTree, features: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Each node's interval ``(low, high]`` on the listed features, top-down."""
    n_nodes, q = tree.feature.shape[0], len(features)
    low = np.full((n_nodes, q), -np.inf)
    high = np.full((n_nodes, q), np.inf)
    column = np.full(max(int(tree.feature.max()) + 2, max(features, default=0) + 2), -1)
    column[features] = np.arange(q)
    frontier = np.array([0])
    while frontier.size:
        inner = frontier[tree.feature[frontier] >= 0]
        if not inner.size:
            break
        left, right = tree.left[inner], tree.right[inner]
        low[left], high[left] = low[inner], high[inner]
        low[right], high[right] = low[inner], high[inner]
        col = column[tree.feature[inner]]
        on = col >= 0
        thr = tree.threshold[inner[on]]
        high[left[on], col[on]] = np.minimum(high[left[on], col[on]], thr)
        low[right[on], col[on]] = np.maximum(low[right[on], col[on]], thr)
        frontier = np.concatenate([left, right])
    return low, high


def _set_feasible(tm: TreeModel, dom: Domain, rows, low, high) -> np.ndarray:
    """Whether the row's allowed set has a value the model sees inside ``(low, high]``."""
    values = tm.seen(dom.set_values().astype(float))
    start = np.searchsorted(values, low, side="right")
    stop = np.searchsorted(values, high, side="right")
    if dom.mask is None:
        return stop > start
    cum = np.concatenate([np.zeros((dom.mask.shape[0], 1), int), dom.mask.cumsum(axis=1)], 1)
    return cum[rows, stop] > cum[rows, start]


def _reached(tm, tree, lo, hi, set_domains: dict[int, Domain], start=None):
    rows, leaves = _leaf_pairs(tree, lo, hi, start)
    if set_domains and rows.size:
        feats = list(set_domains)
        b_low, b_high = _node_bounds(tree, feats)
        keep = np.ones(rows.shape[0], dtype=bool)
        for j, f in enumerate(feats):
            missing = np.isnan(lo[rows, f])
            ok = _set_feasible(tm, set_domains[f], rows, b_low[leaves, j], b_high[leaves, j])
            keep &= ok | missing
        rows, leaves = rows[keep], leaves[keep]
    return rows, leaves


def _extreme_leaves(rows, leaves, values, n):
    """Per row: a leaf with the smallest and one with the largest value among its pairs."""
    low = np.full(n, np.inf)
    high = np.full(n, -np.inf)
    np.minimum.at(low, rows, values)
    np.maximum.at(high, rows, values)
    arg_min = np.empty(n, dtype=np.intp)
    arg_max = np.empty(n, dtype=np.intp)
    hit = values == low[rows]
    arg_min[rows[hit]] = leaves[hit]
    hit = values == high[rows]
    arg_max[rows[hit]] = leaves[hit]
    return arg_min, arg_max


def _witness(tm: TreeModel, tree: FlatTree, leaves, domains, index):
    """Return a point inside each row's box and the given leaf, nearest the recorded values."""
    feats = [index[name] for name in domains]
    b_low, b_high = _node_bounds(tree, feats)
    point = {}
    for j, (name, dom) in enumerate(domains.items()):
        low, high = b_low[leaves, j], b_high[leaves, j]
        x = dom.x
        if dom.kind == "interval":
            xs = tm.seen(x)
            v = np.where(xs <= low, tm.up(low), np.where(xs > high, tm.down(high), x))
            point[name] = np.where(np.isnan(xs), x, v)
            continue
        values = dom.values.astype(float)
        seen = tm.seen(values)
        inside = dom.allowed() & (seen[None, :] > low[:, None]) & (seen[None, :] <= high[:, None])
        dist = np.where(inside, np.abs(values[None, :] - x.astype(float)[:, None]), np.inf)
        pick = values[dist.argmin(axis=1)]
        point[name] = np.where(inside.any(axis=1), pick, x)
    return point


def _boxes(tm: TreeModel, X: np.ndarray, domains: dict[str, Domain], index: dict[str, int]):
    lo, hi = X.copy(), X.copy()
    for name, dom in domains.items():
        lo[:, index[name]], hi[:, index[name]] = dom.lo, dom.hi
    return tm.seen(lo), tm.seen(hi)


CHUNK = 32_768  # rows per pass: bounds the (rows × trees) leaf-index matrices


def _tree_extremes(tm, t, tree, box, corner, set_domains):
    """Per row: this tree's smallest and largest reachable leaf (node ids).

    With ``corner`` (the boxes' float32 corners) the compiled ``Tree.apply`` places both
    corners first. A tree's leaves are axis-aligned boxes: when the lowest and the highest
    corner of a row's box fall in the same leaf, the whole box does, and no descent is
    needed; otherwise every point of the box passes through the corners' deepest common
    ancestor, where the descent starts.
    """
    lo, hi = box
    n = lo.shape[0]
    corners = None
    if corner is not None:
        compiled = tm.compiled[t]
        corners = compiled.apply(corner[0]), compiled.apply(corner[1])
    if corners is None:
        todo = np.arange(n)
        arg_min, arg_max = np.zeros(n, dtype=np.intp), np.zeros(n, dtype=np.intp)
        start = None
    else:
        arg_min, arg_max = corners[0].astype(np.intp), corners[0].astype(np.intp)
        todo = np.flatnonzero(corners[0] != corners[1])
        start = tree.common_ancestor(arg_min[todo], corners[1][todo].astype(np.intp))
    if todo.size:
        sets = {f: d.take(todo) for f, d in set_domains.items()}
        rows, leaves = _reached(tm, tree, lo[todo], hi[todo], sets, start)
        arg_min[todo], arg_max[todo] = _extreme_leaves(rows, leaves, tree.value[leaves],
                                                       todo.size)
    return arg_min, arg_max


def tree_bounds(
    tm: TreeModel, X: np.ndarray, domains: dict[str, Domain], index: dict[str, int]
) -> dict[str, Any]:
    """Per-row ``low``/``high`` score bounds: exact for one tree, sound outer otherwise.

    ``X`` is the ``(n, p)`` float matrix of the model's features; ``index`` maps a feature
    name to its column. For a single tree the result also holds the attaining points.
    """
    n = X.shape[0]
    lo, hi = _boxes(tm, X, domains, index)
    set_domains = {index[k]: d for k, d in domains.items() if d.kind == "set"}
    raw_low, raw_high = np.zeros(n), np.zeros(n)
    leaf_low, leaf_high = np.zeros(n, dtype=np.intp), np.zeros(n, dtype=np.intp)
    for start in range(0, n, CHUNK):
        part = slice(start, min(start + CHUNK, n))
        sets = {f: d.take(np.arange(part.start, part.stop)) for f, d in set_domains.items()}
        box = (lo[part], hi[part])
        # the compiled apply reads float32, C-ordered rows; the descent is faster in float64
        corner = None if tm.compiled is None or np.isnan(box[0]).any() or np.isnan(
            box[1]).any() else tuple(np.ascontiguousarray(a, dtype=np.float32) for a in box)
        for t, tree in enumerate(tm.trees):
            a_min, a_max = _tree_extremes(tm, t, tree, box, corner, sets)
            raw_low[part] += tree.value[a_min]
            raw_high[part] += tree.value[a_max]
            leaf_low[part], leaf_high[part] = a_min, a_max
    result: dict[str, Any] = {}
    if tm.single:
        result["arg_low"] = _witness(tm, tm.trees[0], leaf_low, domains, index)
        result["arg_high"] = _witness(tm, tm.trees[0], leaf_high, domains, index)
    link = _LINKS[tm.link]
    result["low"] = link(tm.offset + tm.scale * raw_low)
    result["high"] = link(tm.offset + tm.scale * raw_high)
    return result
