"""Exact top-k slice search over the lattice of feature conjunctions (SliceLine).

The lattice is walked level by level. Level 1 is one ``bincount`` per feature. A slice
at level ``l`` is a *candidate* only if all ``l`` of its parents (drop one predicate)
were evaluated and are *valid* (support ``≥ σ`` and a positive error sum), and if the
upper bound of its ranking value, computed from the parents' sizes, error sums and
largest errors (SliceLine's bounds), can still reach the current ``k``-th best value.
A pruned slice is never valid, which is safe: each descendant satisfies the same bounds.
When a feature set's parents would cross into a huge product (high-cardinality
features), its candidates are instead the conjunctions that occur in the data.

Candidates of one feature set are evaluated together with a ``bincount`` over a
mixed-radix integer key of the set's codes, so the cost is one pass over the rows per
feature set that still holds a candidate, never a product of one-hot matrices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evenhand._slices._stats import Family, Objective, one_sided_statistic

__all__ = ["Found", "SearchResult", "lattice_size", "search"]

# A dense bincount over the key space is used while it has at most this many cells
# per row (beyond, keys are matched to candidates with a binary search).
_DENSE_CELLS_PER_ROW = 4
# Candidates of a feature set are the cross product of its parents' valid slices up to
# this many; beyond (high-cardinality features), only the conjunctions present in the data.
_MAX_CARTESIAN = 1 << 22
# Relative slack so that a bound equal to the bar up to rounding never prunes.
_TOLERANCE = 1e-9


@dataclass
class _SetStats:
    """Valid slices of one feature set: remapped codes, sorted keys and statistics."""

    codes: np.ndarray  # (slices, order) int64, remapped level codes
    keys: np.ndarray  # sorted int64 mixed-radix keys of ``codes``
    size: np.ndarray
    error: np.ndarray
    max_error: np.ndarray


@dataclass(frozen=True)
class Found:
    """One reported slice: its features, their original level codes and its value."""

    value: float
    size: int
    features: tuple[int, ...]
    levels: tuple[int, ...]


@dataclass
class SearchResult:
    """Top slices, best first, and how much of the lattice was evaluated."""

    top: list[Found]
    candidates_evaluated: int
    feature_sets_scanned: int
    per_level: list[int] = field(default_factory=list)
    # test statistics of every evaluated slice (the multiple-testing family), kept only
    # when asked for: Holm's correction needs them all
    family: Family | None = None


def lattice_size(n_levels: list[int], max_order: int) -> int:
    """Count the conjunctions of at most ``max_order`` predicates on distinct features.

    The elementary symmetric polynomials ``e_1 + … + e_max_order`` of the level counts.
    """
    poly = [1] + [0] * max_order
    for count in n_levels:
        for order in range(max_order, 0, -1):
            poly[order] += poly[order - 1] * count
    return sum(poly[1:])


class _TopK:
    """The ``k`` best slices so far, ties broken by larger size, then discovery order."""

    def __init__(self, k: int, floor: float) -> None:
        self.k, self.floor = k, floor
        self.items: list[tuple[float, int, int, tuple[int, ...], tuple[int, ...]]] = []
        self._seq = 0

    def bar(self) -> float:
        """Value a slice must reach to enter: the k-th best once full, else the floor."""
        return self.items[-1][0] if len(self.items) >= self.k else self.floor

    def offer(self, values, sizes, features, levels) -> None:
        keep = values > self.floor
        if len(self.items) >= self.k:
            keep &= values >= self.items[-1][0]
        if not keep.any():
            return
        idx = np.flatnonzero(keep)
        idx = idx[np.lexsort((-sizes[idx], -values[idx]))][: self.k]
        for i in idx:
            self._seq += 1
            entry = (float(values[i]), int(sizes[i]), self._seq, features, tuple(levels[i]))
            self.items.append(entry)
        self.items.sort(key=lambda t: (-t[0], -t[1], t[2]))
        del self.items[self.k :]

    def result(self) -> list[Found]:
        return [Found(v, s, f, lv) for v, s, _, f, lv in self.items]


@dataclass
class _Data:
    """Row-level inputs: remapped codes, and the rows with a positive loss."""

    codes: list[np.ndarray]  # per feature, int16/32 remapped codes (invalid = radix - 1)
    radix: list[int]
    loss: np.ndarray
    nz_codes: list[np.ndarray]  # the same codes restricted to rows with loss > 0
    nz_loss: np.ndarray | None  # None: every positive loss equals 1
    need_square: bool
    nz_square: np.ndarray | None = None
    family: Family | None = None


def _mixed_radix(codes: np.ndarray, radix: list[int]) -> np.ndarray:
    key = codes[:, 0].astype(np.int64)
    for j in range(1, codes.shape[1]):
        key = key * radix[j] + codes[:, j]
    return key


def _row_keys(columns: list[np.ndarray], radix: list[int], cells: int) -> np.ndarray:
    # the narrowest type halves memory traffic, the cost of this pass
    dtype = np.int16 if cells < 2**15 else np.int32 if cells < 2**31 else np.int64
    key: np.ndarray = columns[0].astype(dtype)
    for column, r in zip(columns[1:], radix[1:], strict=True):
        key *= r
        key += column
    return key


def _group_sums(keys, cand_keys, cells, weights=None, maximum=False):
    """Per-candidate count (or weighted sum, or maximum) of rows with each key."""
    if cells <= max(_DENSE_CELLS_PER_ROW * keys.size, 1 << 16):
        if maximum:
            table = np.zeros(cells)
            np.maximum.at(table, keys, weights)
        else:
            table = np.bincount(keys, weights=weights, minlength=cells)
        return table[cand_keys]
    pos = np.searchsorted(cand_keys, keys)
    pos[pos == cand_keys.size] = 0
    hit = cand_keys[pos] == keys
    w = None if weights is None else weights[hit]
    if maximum:
        out = np.zeros(cand_keys.size)
        np.maximum.at(out, pos[hit], w)
        return out
    return np.bincount(pos[hit], weights=w, minlength=cand_keys.size)


class _Search:
    def __init__(self, data: _Data, objective: Objective, top: _TopK, max_order: int) -> None:
        self.data, self.objective, self.top, self.max_order = data, objective, top, max_order
        self.evaluated = 0
        self.scanned = 0
        self.per_level: list[int] = []
        self.inverse: list[np.ndarray] = []  # remapped code -> original level code

    def _evaluate(self, feats: tuple[int, ...], cand_keys: np.ndarray, last: bool):
        """Size, error sum, square sum and largest error of each candidate of ``feats``."""
        d = self.data
        radix = [d.radix[f] for f in feats]
        cells = int(np.prod(radix, dtype=np.float64))
        keys = _row_keys([d.codes[f] for f in feats], radix, cells)
        size = _group_sums(keys, cand_keys, cells)
        if d.nz_codes is d.codes:
            nz_keys = keys
        else:
            nz_keys = _row_keys([d.nz_codes[f] for f in feats], radix, cells)
        error = _group_sums(nz_keys, cand_keys, cells, d.nz_loss)
        square = None
        if d.need_square:
            square = _group_sums(nz_keys, cand_keys, cells, d.nz_square)
        if last:
            max_error = None
        elif d.nz_loss is None:
            max_error = (error > 0).astype(float)
        else:
            max_error = _group_sums(nz_keys, cand_keys, cells, d.nz_loss, maximum=True)
        self.scanned += 1
        return size, error, square, max_error

    def _record(self, feats, codes, size, error, square) -> None:
        values = self.objective.value(size, error, square)
        reportable = size >= self.objective.min_support
        levels = np.column_stack([self.inverse[f][codes[:, j]] for j, f in enumerate(feats)])
        self.top.offer(np.where(reportable, values, -np.inf), size.astype(np.int64), feats, levels)
        if self.data.family is not None:
            self.data.family.add(*one_sided_statistic(self.objective, size, error, square))

    def _candidates(self, feats, prev: dict[tuple[int, ...], _SetStats]):
        """Candidates of ``feats`` whose parents are all valid and whose bound survives."""
        base, single = prev[feats[:-1]], prev[feats[-1:]]
        nb, nh = base.keys.size, single.keys.size
        if nb * nh <= _MAX_CARTESIAN:
            codes = np.column_stack(
                [np.repeat(base.codes, nh, axis=0), np.tile(single.codes[:, 0], nb)]
            )
            ss = np.minimum(np.repeat(base.size, nh), np.tile(single.size, nb))
            se = np.minimum(np.repeat(base.error, nh), np.tile(single.error, nb))
            sm = np.minimum(np.repeat(base.max_error, nh), np.tile(single.max_error, nb))
            # the parents dropping the last feature (``base``) or all but it are done
            drops = range(len(feats) - 1) if len(feats) > 2 else range(0)
        else:
            codes = self._observed_codes(feats)
            ss, se, sm = (np.full(codes.shape[0], np.inf) for _ in range(3))
            drops = range(len(feats))
        for drop in drops:
            sub = feats[:drop] + feats[drop + 1 :]
            parent = prev.get(sub)
            if parent is None:
                return None
            sub_codes = np.delete(codes, drop, axis=1)
            sub_keys = _mixed_radix(sub_codes, [self.data.radix[f] for f in sub])
            pos = np.minimum(np.searchsorted(parent.keys, sub_keys), parent.keys.size - 1)
            ok = parent.keys[pos] == sub_keys
            codes, pos = codes[ok], pos[ok]
            ss = np.minimum(ss[ok], parent.size[pos])
            se = np.minimum(se[ok], parent.error[pos])
            sm = np.minimum(sm[ok], parent.max_error[pos])
        bar = self.top.bar()
        bound = self.objective.upper_bound(ss, se, sm)
        keep = (ss >= self.objective.min_support) & (se > 0)
        keep &= bound >= bar - _TOLERANCE * (1.0 + abs(bar))
        if len(self.top.items) < self.top.k:
            keep &= bound > self.top.floor - _TOLERANCE * (1.0 + abs(self.top.floor))
        return codes[keep] if keep.any() else None

    def _observed_codes(self, feats: tuple[int, ...]) -> np.ndarray:
        """Level codes of the conjunctions of ``feats`` that occur in valid-coded rows.

        Used instead of the cross product of the parents when that product is huge
        (high-cardinality features): a slice with no row cannot reach the support.
        """
        d = self.data
        radix = [d.radix[f] for f in feats]
        present = np.ones(d.codes[feats[0]].size, dtype=bool)
        for f in feats:
            present &= d.codes[f] != d.radix[f] - 1
        columns = np.column_stack([d.codes[f][present].astype(np.int64) for f in feats])
        keys = np.unique(_mixed_radix(columns, radix))
        codes = np.empty((keys.size, len(feats)), dtype=np.int64)
        for j in range(len(feats) - 1, -1, -1):
            keys, codes[:, j] = np.divmod(keys, radix[j])
        return codes

    def level(self, order: int, prev: dict[tuple[int, ...], _SetStats]):
        """Evaluate every surviving candidate of one level; return its valid slices."""
        last = order == self.max_order
        current: dict[tuple[int, ...], _SetStats] = {}
        count = 0
        singles = sorted(f for (f,) in (k for k in prev if len(k) == 1))
        bases = sorted(k for k in prev if len(k) == order - 1)
        for base in bases:
            for h in singles:
                if h <= base[-1]:
                    continue
                feats = (*base, h)
                codes = self._candidates(feats, prev)
                if codes is None:
                    continue
                cand_keys = _mixed_radix(codes, [self.data.radix[f] for f in feats])
                size, error, square, max_error = self._evaluate(feats, cand_keys, last)
                count += cand_keys.size
                self._record(feats, codes, size, error, square)
                if not last:
                    valid = (size >= self.objective.min_support) & (error > 0)
                    if valid.any():
                        current[feats] = _SetStats(
                            codes[valid],
                            cand_keys[valid],
                            size[valid],
                            error[valid],
                            max_error[valid],
                        )
        self.per_level.append(count)
        self.evaluated += count
        return current


def _first_level(search: _Search, codes, n_levels, loss, binary):
    """Level 1 by bincount; remap each feature's valid levels to ``0 .. V - 1``."""
    objective = search.objective
    prev: dict[tuple[int, ...], _SetStats] = {}
    remapped, radix = [], []
    positive = loss > 0
    for f, (c, m) in enumerate(zip(codes, n_levels, strict=True)):
        size = np.bincount(c, minlength=m).astype(float)
        error = np.bincount(c, weights=loss, minlength=m)
        square = np.bincount(c, weights=loss**2, minlength=m) if search.data.need_square else None
        if binary:
            max_error = (error > 0).astype(float)
        else:
            max_error = np.zeros(m)
            np.maximum.at(max_error, c[positive], loss[positive])
        all_levels = np.arange(m)[:, None]
        search.inverse.append(np.arange(m))
        search._record((f,), all_levels, size, error, square)
        valid = np.flatnonzero((size >= objective.min_support) & (error > 0))
        dtype = np.int16 if valid.size < 2**15 - 1 else np.int32
        mapping = np.full(m, valid.size, dtype=dtype)
        mapping[valid] = np.arange(valid.size, dtype=dtype)
        search.inverse[f] = np.append(valid, -1)
        remapped.append(mapping[c])
        radix.append(valid.size + 1)
        if valid.size:
            new = np.arange(valid.size, dtype=np.int64)
            prev[(f,)] = _SetStats(new[:, None], new, size[valid], error[valid], max_error[valid])
    search.per_level.append(int(sum(n_levels)))
    search.evaluated += int(sum(n_levels))
    return prev, remapped, radix


def search(
    codes: list[np.ndarray],
    n_levels: list[int],
    loss: np.ndarray,
    objective: Objective,
    *,
    max_order: int,
    top_k: int,
    keep_family: bool = False,
) -> SearchResult:
    """Exact top-``top_k`` slices of at most ``max_order`` predicates.

    ``codes[f]`` are the level codes of feature ``f`` (``0 .. n_levels[f] - 1``) and
    ``loss`` the non-negative per-row losses. The result lists the best slices (value
    strictly above ``objective.floor``, support at least ``objective.min_support``),
    best first, ties broken by larger support. With ``keep_family`` it also holds the
    test statistic of every evaluated slice (for a continuous loss this costs one more
    weighted ``bincount`` per feature set, for the sums of squares).
    """
    binary = objective.binary
    need_square = (objective.rank_by == "significance" or keep_family) and not binary
    family = Family([], []) if keep_family else None
    data = _Data([], [], loss, [], None, need_square, family=family)
    top = _TopK(top_k, objective.floor)
    engine = _Search(data, objective, top, max_order)
    prev, remapped, radix = _first_level(engine, codes, n_levels, loss, binary)
    data.codes, data.radix = remapped, radix
    # error sums only need rows with a positive loss: worth a copy when they are few
    nz = np.flatnonzero(loss > 0)
    rows: np.ndarray | slice = nz
    if binary or nz.size < loss.size // 2:
        data.nz_codes = [c[nz] for c in remapped]
    else:
        rows = slice(None)
        data.nz_codes = remapped
    data.nz_loss = None if binary else loss[rows]
    if need_square:
        data.nz_square = loss[rows] ** 2
    for order in range(2, max_order + 1):
        if not any(len(k) == order - 1 for k in prev):
            break
        current = engine.level(order, prev)
        prev = {k: v for k, v in prev.items() if len(k) == 1} | current
    return SearchResult(top.result(), engine.evaluated, engine.scanned, engine.per_level, family)
