from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from bounds._brute import brute_bounds, tree_thresholds
from evenhand.bounds import certify


def _data(n=30, seed=0, integer=True):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 12, n) if integer else rng.uniform(0, 12, n)
    df = pd.DataFrame({
        "a": a,
        "b": rng.integers(18, 60, n),
        "c": rng.integers(0, 4, n),
        "g": rng.choice(["p", "q"], n),
    })
    df["y"] = ((df.a / 4 - (df.b - 40) / 15 + (df.c == 2) + rng.normal(size=n)) > 0.5).astype(int)
    return df


def _train(n=400, seed=1, integer=True):
    return _data(n, seed, integer)


FEATURES = ["a", "b", "c"]


@pytest.mark.parametrize(
    "ranges", [{"a": 1, "b": 1}, {"a": 2.5}, {"b": "10%", "c": [0, 3]}, {"c": "any", "a": 1}]
)
def test_single_tree_equals_brute_force(ranges):
    train = _train()
    model = DecisionTreeClassifier(max_depth=6, random_state=0).fit(train[FEATURES], train.y)
    df = _data()
    cert = certify(model, df, ranges=ranges, sensitive="g", y_true="y")
    low, high = brute_bounds(model, df[FEATURES], ranges, step=0.05)
    np.testing.assert_allclose(cert.rows.score_low, low, atol=1e-12)
    np.testing.assert_allclose(cert.rows.score_high, high, atol=1e-12)
    assert cert.method == "decision tree (exact)"


def test_single_tree_on_continuous_data_is_attained():
    train = _train(integer=False)
    model = DecisionTreeRegressor(max_depth=8, random_state=0).fit(train[FEATURES], train.y)
    df = _data(integer=False)
    cert = certify(model, df, ranges={"a": 0.7}, sensitive="g", threshold=0.5)
    low, high = brute_bounds(model, df[FEATURES], {"a": 0.7}, step=0.01, score=model.predict)
    rows = cert.rows
    # a grid can miss a narrow leaf but never go beyond the exact range
    assert (rows.score_low <= low + 1e-12).all()
    assert (rows.score_high >= high - 1e-12).all()
    assert np.mean(np.isclose(rows.score_high, high)) > 0.9
    # every flip is witnessed by a point of the box: re-score it
    flips = cert.flippable
    X = df.loc[flips.row, FEATURES].copy()
    X["a"] = flips.new_a.to_numpy()
    assert ((model.predict(X) >= 0.5).astype(int) == flips.new_decision.to_numpy()).all()
    assert (np.abs(flips.new_a - flips.a) <= 0.7 + 1e-9).all()


ENSEMBLES = [
    RandomForestClassifier(n_estimators=25, max_depth=6, random_state=0),
    ExtraTreesClassifier(n_estimators=15, max_depth=5, random_state=0),
    GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0),
    HistGradientBoostingClassifier(max_iter=30, random_state=0),
]


@functools.cache
def _fitted_with_truth(i):
    """Fit each ensemble once and brute-force its true score range once."""
    model = clone(ENSEMBLES[i])
    train = _train()
    model.fit(train[FEATURES], train.y)
    df = _data()
    extra = {"a": tree_thresholds(model, 0), "b": tree_thresholds(model, 1)}
    return model, df, brute_bounds(model, df[FEATURES], RANGES, step=0.25, extra=extra)


RANGES = {"a": 1, "b": 2}


@pytest.mark.parametrize("i", range(len(ENSEMBLES)), ids=[type(m).__name__ for m in ENSEMBLES])
@pytest.mark.parametrize("budget", [0, 5, 64])
def test_ensemble_inner_true_outer(i, budget):
    model, df, (low, high) = _fitted_with_truth(i)
    cert = certify(model, df, ranges=RANGES, sensitive="g", y_true="y", search_budget=budget)
    r = cert.rows
    tol = 1e-12
    assert (r.score_low <= low + tol).all()
    assert (low <= r.score_low_inner + tol).all()
    assert (r.score_high_inner <= high + tol).all()
    assert (high <= r.score_high + tol).all()
    assert (r.gap >= 0).all()
    exact = r.exact.to_numpy()
    # few cells per feature (thresholds sit between integers): every cell is scored
    if budget == 64 and not isinstance(model, ExtraTreesClassifier):
        assert exact.mean() > 0.8
    np.testing.assert_allclose(r.score_low[exact], low[exact], atol=1e-12)
    np.testing.assert_allclose(r.score_high[exact], high[exact], atol=1e-12)


def test_gradient_boosting_regressor_and_unresolved_rows():
    train = _train(integer=False)
    model = GradientBoostingRegressor(n_estimators=40, random_state=0).fit(
        train[FEATURES], train.a + train.b / 10
    )
    df = _data(integer=False)
    cert = certify(model, df, ranges={"a": 1.5, "b": 3}, sensitive="g", threshold=7.0,
                   search_budget=0)
    r = cert.rows
    low, high = brute_bounds(model, df[FEATURES], {"a": 1.5, "b": 3}, step=0.05,
                             score=model.predict)
    assert (r.score_low <= low + 1e-9).all()
    assert (r.score_high >= high - 1e-9).all()
    # without search, rows straddling the threshold are unresolved, never claimed stable
    straddle = (r.score_low < 7.0) & (r.score_high >= 7.0) & ~r.exact
    assert r.decision_stable[straddle].isna().all()
    assert cert.n_unresolved == int(r.decision_stable.isna().sum())


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), da=st.floats(0, 3), db=st.integers(0, 4),
       depth=st.integers(1, 8))
def test_property_single_tree_exact(seed, da, db, depth):
    train = _train(n=200, seed=seed, integer=False)
    model = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(
        train[FEATURES], train.y)
    df = _data(n=12, seed=seed + 1, integer=False)
    ranges = {"a": da, "b": db}
    cert = certify(model, df, ranges=ranges, sensitive="g")
    extra = {"a": tree_thresholds(model, 0), "b": tree_thresholds(model, 1)}
    low, high = brute_bounds(model, df[FEATURES], ranges, step=0.5, extra=extra)
    np.testing.assert_allclose(cert.rows.score_low, low, atol=1e-12)
    np.testing.assert_allclose(cert.rows.score_high, high, atol=1e-12)


def test_tree_trained_with_missing_values_follows_their_branch():
    train = _train(integer=False)
    train.loc[::5, "a"] = np.nan
    model = DecisionTreeClassifier(max_depth=6, random_state=0).fit(train[FEATURES], train.y)
    df = _data(integer=False)
    df.loc[::3, "a"] = np.nan
    cert = certify(model, df, ranges={"a": 1, "b": 2}, sensitive="g")
    extra = {"a": tree_thresholds(model, 0), "b": tree_thresholds(model, 1)}
    low, high = brute_bounds(model, df[FEATURES], {"a": 1, "b": 2}, step=0.25, extra=extra)
    np.testing.assert_allclose(cert.rows.score_low, low, atol=1e-12)
    np.testing.assert_allclose(cert.rows.score_high, high, atol=1e-12)


@pytest.mark.parametrize("budget", [0, 64])
def test_ensemble_with_finite_sets(budget):
    train = _train()
    model = RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0).fit(
        train[FEATURES], train.y)
    df = _data()
    ranges = {"c": "any", "a": [0, 11]}
    cert = certify(model, df, ranges=ranges, sensitive="g", search_budget=budget)
    low, high = brute_bounds(model, df[FEATURES], ranges)
    r = cert.rows
    assert (r.score_low <= low + 1e-12).all()
    assert (r.score_high >= high - 1e-12).all()
    assert (r.score_low_inner >= low - 1e-12).all()
    assert (r.score_high_inner <= high + 1e-12).all()
    if budget:  # 4 × 3 combinations: all scored, exact
        assert r.exact.all()
        np.testing.assert_allclose(r.score_low, low, atol=1e-12)
        np.testing.assert_allclose(r.score_high, high, atol=1e-12)
