from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from bounds._brute import brute_bounds
from evenhand.bounds import certify


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "a": rng.integers(0, 10, n),
        "b": rng.normal(50, 10, n).round(1),
        "c": rng.choice(["x", "y", "z"], n),
        "g": rng.choice(["p", "q"], n),
    })
    logit = 0.4 * df.a - 0.05 * df.b + df.c.map({"x": 0.0, "y": 1.0, "z": -1.0}) + 1.0
    df["y"] = (logit + rng.normal(size=n) > 0).astype(int)
    return df


def _pipeline(df):
    pre = ColumnTransformer([
        ("num", StandardScaler(), ["a", "b"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["c"]),
    ])
    return Pipeline([("pre", pre), ("lr", LogisticRegression())]).fit(df[["a", "b", "c"]], df.y)


@pytest.mark.parametrize(
    "ranges",
    [
        {"a": 1, "b": 2.5},
        {"b": "10%"},
        {"a": 2, "c": ["y", "z"]},
        {"c": "any", "b": 1},
    ],
)
def test_pipeline_equals_brute_force(ranges):
    df = _data()
    model = _pipeline(df)
    cert = certify(model, df, ranges=ranges, sensitive="g", y_true="y")
    low, high = brute_bounds(model, df[["a", "b", "c"]], ranges)
    rows = cert.rows
    np.testing.assert_allclose(rows.score_low, low, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rows.score_high, high, rtol=0, atol=1e-12)
    assert rows.exact.all()
    assert cert.method == "linear (exact)"


def test_range_on_a_column_the_pipeline_drops_changes_nothing():
    """A trusted range on an input the model never reads (dropped by its ColumnTransformer)
    moves no score: the bounds equal the scores and stay exact."""
    df = _data(seed=5)
    pre = ColumnTransformer([("num", StandardScaler(), ["a"])], remainder="drop")
    model = Pipeline([("pre", pre), ("lr", LogisticRegression())])
    model.fit(df[["a", "b", "c"]], df.y)
    cert = certify(model, df, ranges={"a": 1, "b": 5.0}, sensitive="g", y_true="y")
    low, high = brute_bounds(model, df[["a", "b", "c"]], {"a": 1, "b": 5.0})
    np.testing.assert_allclose(cert.rows.score_low, low, atol=1e-12)
    np.testing.assert_allclose(cert.rows.score_high, high, atol=1e-12)
    only_b = certify(model, df, ranges={"b": 5.0}, sensitive="g", y_true="y")
    score = model.predict_proba(df[["a", "b", "c"]])[:, 1]
    np.testing.assert_allclose(only_b.rows.score_low, score, atol=1e-12)
    np.testing.assert_allclose(only_b.rows.score_high, score, atol=1e-12)
    assert only_b.rows.exact.all()


def test_plain_logistic_on_numpy_with_features_argument():
    df = _data(seed=3)
    model = LogisticRegression().fit(df[["a", "b"]].to_numpy(), df.y)
    cert = certify(model, df, ranges={"a": 1, "b": 3}, sensitive="g", features=["a", "b"])
    wrapped = LogisticRegression().fit(df[["a", "b"]], df.y)
    low, high = brute_bounds(wrapped, df[["a", "b"]], {"a": 1, "b": 3})
    np.testing.assert_allclose(cert.rows.score_low, low, atol=1e-12)
    np.testing.assert_allclose(cert.rows.score_high, high, atol=1e-12)


def test_regressor_score_is_predict():
    df = _data(seed=4)
    model = LinearRegression().fit(df[["a", "b"]], df.b * 0.1 + df.a)
    cert = certify(model, df, ranges={"a": 1}, sensitive="g", threshold=6.0)
    low, high = brute_bounds(model, df[["a", "b"]], {"a": 1}, score=model.predict)
    np.testing.assert_allclose(cert.rows.score_low, low, atol=1e-9)
    np.testing.assert_allclose(cert.rows.score_high, high, atol=1e-9)


@settings(max_examples=10, deadline=None)
@given(
    da=st.floats(0, 3),
    share=st.integers(0, 30),
    seed=st.integers(0, 1000),
)
def test_property_linear_exact(da, share, seed):
    df = _data(n=15, seed=seed)
    assume(df.y.nunique() == 2)
    model = _pipeline(df)
    ranges = {"a": da, "b": f"{share}%"}
    cert = certify(model, df, ranges=ranges, sensitive="g")
    low, high = brute_bounds(model, df[["a", "b", "c"]], ranges, step=max(da, 0.5))
    np.testing.assert_allclose(cert.rows.score_low, low, atol=1e-12)
    np.testing.assert_allclose(cert.rows.score_high, high, atol=1e-12)


def test_missing_values_stay_missing_through_an_imputer():
    from sklearn.impute import SimpleImputer

    df = _data(seed=7)
    df["b"] = df.b.astype(float)
    df.loc[::4, "b"] = np.nan
    model = Pipeline([("imp", SimpleImputer()), ("sc", StandardScaler()),
                      ("lr", LogisticRegression())]).fit(df[["a", "b"]], df.y)
    cert = certify(model, df, ranges={"a": 1, "b": 2}, sensitive="g")
    low, high = brute_bounds(model, df[["a", "b"]], {"a": 1, "b": 2}, step=0.5)
    np.testing.assert_allclose(cert.rows.score_low, low, atol=1e-12)
    np.testing.assert_allclose(cert.rows.score_high, high, atol=1e-12)
