"""Inner score bounds by search: every value found is the model's score at a point of the box.

Each ranged feature gets a short list of candidate values per row: for tree models one value
inside every cell the model's thresholds cut the interval into (the lower end, then the
smallest value above each threshold), for other models the ends and evenly spaced interior
points; finite sets list their allowed values. The search starts from the recorded values.
When the product of the list lengths is within the budget, every combination is scored;
for a tree model whose lists cover every cell this is the exact range of the score over
the box (the model is constant on each cell). Otherwise a seeded random sample of
combinations seeds a coordinate search, which improves one feature at a time. Search
results are inner bounds: attained, but not guaranteed extreme.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from evenhand.bounds._model import Scorer
from evenhand.bounds._ranges import Domain
from evenhand.bounds._trees import TreeModel

__all__ = ["candidates", "search_bounds"]


def _interval_candidates(dom: Domain, k_max: int, tm: TreeModel | None, feature: int | None):
    x = dom.x.astype(float)
    a, b = dom.lo, dom.hi
    fixed = np.isnan(a)
    if tm is not None and feature is not None:
        t = tm.thresholds(feature)
        start = np.searchsorted(t, tm.seen(a), side="left")
        stop = np.searchsorted(t, tm.seen(b), side="left")
        m = np.where(fixed, 0, stop - start)
        slots = max(k_max - 1, 1)
        width = int(min(max(int(m.max(initial=0)), 0), slots))
        step = np.where(m > slots, m / slots, 1.0)
        if width and t.size:
            idx = start[:, None] + np.floor(np.arange(width)[None, :] * step[:, None]).astype(int)
            valid = np.arange(width)[None, :] < m[:, None]
            reps = np.minimum(tm.up(t[np.clip(idx, 0, t.size - 1)]), b[:, None])
            cells = np.where(valid, reps, x[:, None])
        else:
            cells = np.empty((x.shape[0], 0))
        table = np.column_stack([np.where(fixed, x, a), cells])
        complete = m <= slots
    else:
        inner = max(k_max - 2, 0)
        frac = (np.arange(1, inner + 1) / (inner + 1))[None, :]
        grid = a[:, None] + frac * (b - a)[:, None]
        table = np.column_stack([a, b, grid])
        table = np.where(fixed[:, None], x[:, None], table)
        complete = fixed | (a == b)
    return table, complete


def _set_candidates(dom: Domain, k_max: int, rng: np.random.Generator):
    values = dom.set_values()
    n, k = dom.x.shape[0], values.shape[0]
    allowed = dom.allowed()
    perm = rng.permutation(k)
    order = np.argsort(~allowed[:, perm], axis=1, kind="stable")[:, : max(k_max, 1)]
    picked = values[perm][order]
    count = allowed.sum(axis=1)
    width = order.shape[1]
    valid = np.arange(width)[None, :] < count[:, None]
    x = dom.x if dom.numeric else dom.x.astype(object)
    table = np.where(valid, picked, x[:, None]) if n else np.empty((0, width))
    return table, count <= width


def candidates(
    domains: dict[str, Domain],
    *,
    k_max: int,
    seed: int | None,
    tm: TreeModel | None = None,
    index: dict[str, int] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Candidate values per feature ``(n, K_f)`` and whether each row's lists are complete."""
    rng = np.random.default_rng(seed)
    tables, complete = {}, None
    for name, dom in domains.items():
        if dom.kind == "interval":
            feat = index[name] if index is not None else None
            table, ok = _interval_candidates(dom, k_max, tm, feat)
        else:
            table, ok = _set_candidates(dom, k_max, rng)
        tables[name] = table
        complete = ok if complete is None else complete & ok
    assert complete is not None  # parse_ranges rejects an empty ranges mapping
    return tables, complete


class _Best:
    """Running per-row minimum and maximum with the points attaining them."""

    def __init__(self, score: np.ndarray, point: dict[str, np.ndarray]):
        self.low, self.high = score.copy(), score.copy()
        self.arg_low = {k: v.copy() for k, v in point.items()}
        self.arg_high = {k: v.copy() for k, v in point.items()}

    def update(self, score: np.ndarray, point: dict[str, np.ndarray]) -> None:
        lower, higher = score < self.low, score > self.high
        self.low = np.where(lower, score, self.low)
        self.high = np.where(higher, score, self.high)
        for k, v in point.items():
            self.arg_low[k] = np.where(lower, v, self.arg_low[k])
            self.arg_high[k] = np.where(higher, v, self.arg_high[k])


def _score_many(scorer: Scorer, rows: np.ndarray, points: list[dict[str, np.ndarray]]):
    """Score several full points for ``rows`` in one stacked model call."""
    if not points:
        return []
    stacked = {k: np.concatenate([p[k] for p in points]) for k in points[0]}
    out = scorer.score(np.tile(rows, len(points)), stacked)
    return np.split(out, len(points))


def _pick(tables: dict[str, np.ndarray], combo: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    n = next(iter(tables.values())).shape[0]
    return {k: t[np.arange(n), combo[k]] for k, t in tables.items()}


def _exhaustive(scorer, rows, tables, best: _Best, batch: int) -> None:
    sizes = [range(t.shape[1]) for t in tables.values()]
    combos = list(itertools.product(*sizes))
    n = rows.shape[0]
    for start in range(0, len(combos), batch):
        points = [
            _pick(tables, {k: np.full(n, c[i]) for i, k in enumerate(tables)})
            for c in combos[start : start + batch]
        ]
        for score, point in zip(_score_many(scorer, rows, points), points, strict=True):
            best.update(score, point)


def _coordinate(scorer, rows, tables, best: _Best, rounds: int, samples: int, rng) -> None:
    n = rows.shape[0]
    points = [
        _pick(tables, {k: rng.integers(0, t.shape[1], n) for k, t in tables.items()})
        for _ in range(samples)
    ]
    for score, point in zip(_score_many(scorer, rows, points), points, strict=True):
        best.update(score, point)
    for _ in range(rounds):
        for name, table in tables.items():
            trials = []
            for k in range(table.shape[1]):
                for start in (best.arg_low, best.arg_high):
                    trial = dict(start)
                    trial[name] = table[:, k]
                    trials.append(trial)
            for score, point in zip(_score_many(scorer, rows, trials), trials, strict=True):
                best.update(score, point)


def search_bounds(
    scorer: Scorer,
    domains: dict[str, Domain],
    base_score: np.ndarray,
    *,
    budget: int,
    seed: int | None,
    rows: np.ndarray | None = None,
    tm: TreeModel | None = None,
    index: dict[str, int] | None = None,
    k_max: int = 8,
) -> dict[str, Any]:
    """Inner bounds for ``rows`` (all rows when ``None``), using about ``budget`` scores a row.

    Returns ``low``, ``high``, ``arg_low``, ``arg_high`` and ``complete`` (rows whose every
    combination of complete candidate lists was scored: exact for tree models).
    """
    rows = np.arange(scorer.n) if rows is None else rows
    doms = {k: d.take(rows) for k, d in domains.items()}
    x_point = {k: d.x for k, d in doms.items()}
    best = _Best(base_score[rows], x_point)
    complete = np.zeros(rows.shape[0], dtype=bool)
    if budget <= 0 or rows.size == 0:
        return _result(best, complete)
    # first try lists long enough to cover every cell; shorten them if that is too costly
    tables, full = candidates(doms, k_max=min(budget, 256), seed=seed, tm=tm, index=index)
    total = int(np.prod([t.shape[1] for t in tables.values()]))
    if total > budget:
        tables, full = candidates(doms, k_max=k_max, seed=seed, tm=tm, index=index)
        total = int(np.prod([t.shape[1] for t in tables.values()]))
    batch = max(1, min(64, 2_000_000 // max(rows.size, 1)))
    if total <= budget:
        _exhaustive(scorer, rows, tables, best, batch)
        complete = full & (tm is not None)
    else:
        per_round = 2 * sum(t.shape[1] for t in tables.values())
        samples = min(8, budget // 4)
        rounds = max(1, (budget - samples) // per_round)
        _coordinate(scorer, rows, tables, best, rounds, samples, np.random.default_rng(seed))
    return _result(best, complete)


def _result(best: _Best, complete: np.ndarray) -> dict[str, Any]:
    return {
        "low": best.low,
        "high": best.high,
        "arg_low": best.arg_low,
        "arg_high": best.arg_high,
        "complete": complete,
    }
