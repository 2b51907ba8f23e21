"""Exactness of the slice search: brute-force enumeration and the PyPI sliceline port."""

from __future__ import annotations

import math
import warnings
from itertools import combinations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import evenhand
from evenhand._slices._search import lattice_size


def _label(name: str, value: object) -> str:
    return f"{name} is null" if value is None else f"{name} == {value!r}"


def _value(rank_by, alpha, n, total, rows, rest, binary):
    """Ranking value of one slice from first principles (scipy for the tests)."""
    size, mean = rows.size, rows.mean()
    overall = total / n
    if rank_by == "score":
        return alpha * (mean / overall - 1) - (1 - alpha) * (n / size - 1)
    if rank_by == "lift":
        return mean / overall
    if rest.size == 0:
        return 0.0
    if binary:
        p = overall
        z = (mean - rest.mean()) / math.sqrt(p * (1 - p) * (1 / size + 1 / rest.size))
        return -stats.norm.logsf(z)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        res = stats.ttest_ind(rows, rest, equal_var=False, alternative="greater")
    return 0.0 if np.isnan(res.pvalue) else -math.log(res.pvalue) if res.pvalue > 0 else math.inf


def brute_force(columns, loss, *, max_order, min_support, alpha, rank_by):
    """Every conjunction up to ``max_order``: label -> ranking value (reportable only)."""
    n, total = loss.size, loss.sum()
    binary = bool(np.isin(loss, (0, 1)).all())
    floor = {"score": 0.0, "lift": 1.0, "significance": math.log(2)}[rank_by]
    names = list(columns)
    out = {}
    for order in range(1, max_order + 1):
        for combo in combinations(names, order):
            groups: dict[tuple, list[int]] = {}
            for i in range(n):
                groups.setdefault(tuple(columns[c][i] for c in combo), []).append(i)
            for key, idx in groups.items():
                if len(idx) < min_support:
                    continue
                mask = np.zeros(n, bool)
                mask[idx] = True
                if len(idx) == n:
                    continue  # the whole data is not a subgroup
                v = _value(rank_by, alpha, n, total, loss[mask], loss[~mask], binary)
                if v > floor - 1e-9:
                    out[" & ".join(_label(c, k) for c, k in zip(combo, key, strict=True))] = v
    return out


def _check_against_brute_force(columns, loss, *, max_order, min_support, alpha, rank_by, k):
    data = pl.DataFrame({**{c: pl.Series(c, v, dtype=pl.String) for c, v in columns.items()}})
    data = data.with_columns(loss=pl.Series(loss))
    result = evenhand.find_slices(
        data, features=list(columns), loss="loss", max_order=max_order,
        min_support=min_support, alpha=alpha, rank_by=rank_by, top_k=k,
    )
    truth = brute_force(columns, loss, max_order=max_order, min_support=min_support,
                        alpha=alpha, rank_by=rank_by)
    floor = {"score": 0.0, "lift": 1.0, "significance": math.log(2)}[rank_by]
    got = [truth.get(label, -math.inf) for label in result["slice"].to_list()]
    assert all(v > floor - 1e-9 for v in got)
    # values within rounding of the floor may or may not be reported: compare the rest
    clear = sorted((v for v in truth.values() if v > floor + 1e-9), reverse=True)
    borderline = sum(v <= floor + 1e-9 for v in got)
    got = [v for v in got if v > floor + 1e-9]
    assert len(got) >= min(k, len(clear)) - borderline
    # the same values in the same order; slices with equal values may be swapped
    np.testing.assert_allclose(got, clear[: len(got)], rtol=1e-7, atol=1e-9)


@st.composite
def problems(draw):
    n = draw(st.integers(20, 120))
    n_features = draw(st.integers(1, 4))
    columns = {}
    for j in range(n_features):
        levels = draw(st.lists(st.sampled_from(["a", "b", "c", "d", None]), min_size=1,
                               max_size=4, unique=True))
        columns[f"x{j}"] = draw(st.lists(st.sampled_from(levels), min_size=n, max_size=n))
    if draw(st.booleans()):
        loss = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), float)
    else:
        # about half zeros: both the all-rows and the positive-rows paths get exercised
        value = st.one_of(st.just(0.0), st.floats(0, 10, allow_subnormal=False))
        loss = np.array(draw(st.lists(value, min_size=n, max_size=n)))
    return columns, loss


@settings(max_examples=60, deadline=None)
@given(
    problem=problems(),
    max_order=st.integers(1, 3),
    min_support=st.integers(2, 12),
    alpha=st.sampled_from([0.5, 0.8, 0.95, 1.0]),
    rank_by=st.sampled_from(["score", "lift", "significance"]),
    k=st.integers(1, 8),
    observed=st.booleans(),
)
def test_top_k_equals_brute_force(problem, max_order, min_support, alpha, rank_by, k,
                                  observed):
    from evenhand._slices import _search as _slices_search

    columns, loss = problem
    if loss.sum() == 0:
        return  # no error anywhere: covered by test_zero_error_gives_empty_table
    with pytest.MonkeyPatch.context() as patch:
        if observed:  # candidates from the rows instead of the parents' cross product
            patch.setattr(_slices_search, "_MAX_CARTESIAN", 0)
        _check_against_brute_force(columns, loss, max_order=max_order,
                                   min_support=min_support, alpha=alpha, rank_by=rank_by, k=k)


@pytest.mark.parametrize("seed", range(4))
def test_pruning_stays_exact_on_a_larger_lattice(seed):
    """Five features, order 3, planted structure: pruning is active and exact."""
    rng = np.random.default_rng(seed)
    n = 600
    columns = {f"x{j}": rng.choice(list("abc"), n).tolist() for j in range(5)}
    hot = (np.array(columns["x0"]) == "a") & (np.array(columns["x1"]) == "b")
    loss = (rng.random(n) < np.where(hot, 0.6, 0.15)).astype(float)
    _check_against_brute_force(columns, loss, max_order=3, min_support=10, alpha=0.9,
                               rank_by="score", k=5)


def test_zero_error_gives_empty_table():
    data = {"x": np.array(["a", "b"] * 20), "loss": np.zeros(40)}
    result, info = evenhand.find_slices(data, features=["x"], loss="loss", return_stats=True)
    assert result.height == 0
    assert list(result.columns) == ["slice", "size", "error", "error_ci_low",
                                    "error_ci_high", "lift", "p_value", "score"]
    assert info.lattice_size == 2


def test_lattice_size_counts_every_conjunction():
    levels = [2, 3, 4, 5]
    expected = sum(
        math.prod(c) for order in range(1, 4) for c in combinations(levels, order)
    )
    assert lattice_size(levels, 3) == expected
    assert lattice_size([10] * 20, 3) == 200 + 190 * 100 + 1140 * 1000


@pytest.mark.parametrize(("seed", "alpha", "max_order", "min_support"),
                         [(0, 0.95, 3, 10), (1, 0.8, 2, 5), (2, 0.6, 3, 20), (3, 0.99, 4, 8)])
def test_scores_equal_sliceline_package(seed, alpha, max_order, min_support):
    """The PyPI ``sliceline`` port (sparse linear algebra) finds the same top scores."""
    slicefinder = pytest.importorskip("sliceline.slicefinder")
    rng = np.random.default_rng(seed)
    n, k = 800, 6
    x = rng.integers(0, 4, size=(n, 5))
    hot = (x[:, 0] == 1) & (x[:, 2] == 3)
    errors = (rng.random(n) < np.where(hot, 0.7, 0.12)).astype(float)
    finder = slicefinder.Slicefinder(alpha=alpha, k=k, max_l=max_order, min_sup=min_support,
                                     verbose=False).fit(x, errors)
    theirs = [s["slice_score"] for s in finder.top_slices_statistics_][:k]
    data = {f"x{j}": x[:, j].astype(str) for j in range(5)} | {"e": errors}
    ours = evenhand.find_slices(data, features=[f"x{j}" for j in range(5)], loss="e",
                                alpha=alpha, max_order=max_order, min_support=min_support,
                                top_k=k)
    np.testing.assert_allclose(ours["score"].to_numpy(), theirs, rtol=1e-9)


@pytest.mark.parametrize("loss_kind", ["binary", "continuous"])
def test_high_cardinality_uses_the_sparse_path_and_stays_exact(loss_kind):
    """61^3 cells exceed the dense key space, so candidates are matched by binary search."""
    rng = np.random.default_rng(7)
    n = 2000
    columns = {f"x{j}": [f"v{v:02d}" for v in rng.integers(0, 60, n)] for j in range(3)}
    if loss_kind == "binary":
        loss = (rng.random(n) < 0.3).astype(float)
    else:  # mostly zero: error sums run over the positive rows only
        loss = np.where(rng.random(n) < 0.3, rng.exponential(size=n), 0.0)
    for rank_by in ("lift", "score"):
        _check_against_brute_force(columns, loss, max_order=3, min_support=2, alpha=0.999,
                                   rank_by=rank_by, k=10)


def test_candidates_from_observed_conjunctions_stay_exact(monkeypatch):
    """Past the cross-product limit, candidates come from the rows: same top-k."""
    from evenhand._slices import _search as _slices_search

    monkeypatch.setattr(_slices_search, "_MAX_CARTESIAN", 0)
    rng = np.random.default_rng(8)
    n = 1500
    columns = {f"x{j}": [f"v{v:02d}" for v in rng.integers(0, 12, n)] for j in range(4)}
    loss = np.where(rng.random(n) < 0.4, rng.exponential(size=n), 0.0)
    for rank_by in ("lift", "score", "significance"):
        _check_against_brute_force(columns, loss, max_order=3, min_support=3, alpha=0.999,
                                   rank_by=rank_by, k=8)
