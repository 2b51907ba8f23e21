"""Row weights in the Shapley decomposition: weighted analogues of every quantity."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import evenhand as eh
from evenhand import EvenhandError

FACTORS = {"first": ["x1", "c"], "second": ["x2"], "third": ["x3"]}
KW = {"outcome": "y", "group": "g", "factors": FACTORS, "method": "shapley", "groups": (1, 0)}


def data(n: int = 400, seed: int = 0) -> pl.DataFrame:
    """Continuous outcome, three factor groups (one with a categorical), integer weights 0-3."""
    rng = np.random.default_rng(seed)
    g = rng.random(n) < 0.45
    x = rng.normal(size=(n, 3)) + g[:, None] * np.array([0.6, -0.4, 0.3])
    c = np.where(rng.random(n) < 0.3 + 0.3 * g, "yes", "no")
    y = 1 + x @ np.array([1.0, -0.7, 0.4]) + 0.9 * (c == "yes") + 0.5 * g + rng.normal(size=n)
    w = rng.integers(0, 4, size=n)
    return pl.DataFrame(
        {"y": y, "g": g.astype(int), "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "c": c, "w": w}
    )


def duplicated(df: pl.DataFrame) -> pl.DataFrame:
    """Each row repeated ``w`` times in place (rows of weight 0 dropped)."""
    return df[np.repeat(np.arange(df.height), df["w"].to_numpy())]


def point(res: eh.Decomposition) -> np.ndarray:
    """Gap, explained, unexplained and the per-factor contributions."""
    parts = [res.gap, res.explained, res.unexplained]
    return np.r_[parts, res.by_factor["contribution"].to_numpy()]


def test_shares_sum_exactly_to_the_weighted_gap() -> None:
    df = data(600, seed=1)
    y, g, w = (df[c].to_numpy() for c in ("y", "g", "w"))
    gap = np.average(y[g == 1], weights=w[g == 1]) - np.average(y[g == 0], weights=w[g == 0])
    for equalise in ("matching", "reweighting"):
        res = eh.decompose(df, weights="w", equalise=equalise, n_boot=3, seed=0, **KW)
        assert res.gap == pytest.approx(gap, abs=1e-12)
        total = res.by_factor["contribution"].sum() + res.unexplained
        assert total == pytest.approx(res.gap, abs=1e-12)
        overall = res.overall.filter(pl.col("component") != "gap")
        assert overall["share"].sum() == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), reference=st.sampled_from(["jann", "neumark", 1, 0]))
def test_integer_weights_equal_duplicated_rows(seed: int, reference) -> None:
    df = data(250, seed=seed)
    dup = duplicated(df)
    # max_pairs below both numbers of (A, B) row pairs, so both draw the same number
    kw = {**KW, "reference": reference, "n_boot": 0, "seed": 3, "max_pairs": 3000}
    # reweighting is deterministic: weights k == k plain copies
    a = eh.decompose(df, weights="w", equalise="reweighting", **kw)
    b = eh.decompose(dup, equalise="reweighting", **kw)
    np.testing.assert_allclose(point(a), point(b), atol=1e-10)
    # matching: pairs drawn with probability ∝ w are the same draws as uniform draws over the
    # copies once the copies go through the weighted path (a common weight 2 changes no
    # least-squares fit); the endpoints also equal the plain copies'
    a = eh.decompose(df, weights="w", **kw)
    b = eh.decompose(dup.with_columns(w=pl.lit(2)), weights="w", **kw)
    np.testing.assert_allclose(point(a), point(b), atol=1e-10)
    plain = eh.decompose(dup, **kw)
    np.testing.assert_allclose(point(a)[:3], point(plain)[:3], atol=1e-10)


def test_integer_weights_equal_duplicated_rows_with_sklearn_models() -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = data(300, seed=4)
    kw = {**KW, "reference": "neumark", "n_boot": 0, "equalise": "reweighting"}
    for model in (Ridge(alpha=5.0), make_pipeline(StandardScaler(), Ridge(alpha=5.0))):
        a = eh.decompose(df, weights="w", model=model, **kw)
        b = eh.decompose(duplicated(df), model=model, **kw)
        np.testing.assert_allclose(point(a), point(b), atol=1e-8)


@pytest.mark.parametrize("equalise", ["matching", "reweighting"])
def test_weights_all_one_are_exactly_unweighted(equalise: str) -> None:
    df = data(300, seed=5).with_columns(w=pl.lit(1.0))
    kw = {**KW, "equalise": equalise, "n_boot": 5, "seed": 2}
    a = eh.decompose(df, weights="w", **kw)
    b = eh.decompose(df, **kw)
    np.testing.assert_array_equal(point(a), point(b))
    np.testing.assert_array_equal(a.by_factor["ci_low"], b.by_factor["ci_low"])


@pytest.mark.parametrize("equalise", ["matching", "reweighting"])
def test_zero_weights_equal_dropping_the_rows(equalise: str) -> None:
    df = data(400, seed=6)
    kw = {**KW, "equalise": equalise, "n_boot": 0, "seed": 1}
    a = eh.decompose(df, weights="w", **kw)
    b = eh.decompose(df.filter(pl.col("w") > 0), weights="w", **kw)
    np.testing.assert_allclose(point(a), point(b), atol=1e-10)


def test_constant_weights_keep_the_bootstrap_replicates() -> None:
    # a replicate resamples rows uniformly within each group and each row keeps its weight,
    # as for Oaxaca and Fairlie; a constant weight changes neither a fit nor an average
    df = data(300, seed=7)
    kw = {**KW, "equalise": "reweighting", "n_boot": 20, "seed": 4}
    a = eh.decompose(df.with_columns(w=pl.lit(2.5)), weights="w", **kw)
    b = eh.decompose(df, **kw)
    for col in ("contribution", "se", "ci_low", "ci_high"):
        np.testing.assert_allclose(a.by_factor[col], b.by_factor[col], atol=1e-10)


def test_weighted_reweighting_matches_statsmodels() -> None:
    # oracle: statsmodels WLS for the outcome model, a frequency-weighted binomial GLM for the
    # odds, and the two-player Shapley formula
    import statsmodels.api as sm

    df = data(500, seed=8)
    factors = {"first": ["x1"], "second": ["x2"]}
    y, g, w = (df[c].to_numpy() for c in ("y", "g", "w"))
    x = df.select("x1", "x2").to_numpy()
    a, b = g == 1, g == 0
    wls = sm.WLS(y, sm.add_constant(x), weights=w).fit()
    pred = wls.predict(sm.add_constant(x))

    def value(cols: list[int]) -> float:
        if not cols:
            return float(np.average(pred[b], weights=w[b]))
        if len(cols) == 2:
            return float(np.average(pred[a], weights=w[a]))
        glm = sm.GLM(g, sm.add_constant(x[:, cols]), family=sm.families.Binomial(), freq_weights=w)
        odds = np.exp(glm.fit().predict(which="linear")[b])
        return float(np.average(pred[b], weights=w[b] * odds))

    v0, v1, v2, v12 = value([]), value([0]), value([1]), value([0, 1])
    expected = [0.5 * (v1 - v0 + v12 - v2), 0.5 * (v2 - v0 + v12 - v1)]
    kw = {**KW, "factors": factors, "reference": "neumark", "n_boot": 0}
    res = eh.decompose(df, weights="w", equalise="reweighting", **kw)
    np.testing.assert_allclose(res.by_factor["contribution"], expected, atol=1e-8)  # seen: ~1e-13


def test_weighted_bootstrap_intervals_are_finite() -> None:
    res = eh.decompose(data(300, seed=9), weights="w", n_boot=10, seed=0, **KW)
    assert np.all(np.isfinite(res.by_factor["se"].to_numpy()))
    assert (res.by_factor["ci_low"] <= res.by_factor["ci_high"]).all()


def test_missing_weight_drops_the_row() -> None:
    df = data(300, seed=10)
    holed = df.with_columns(w=pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise("w"))
    a = eh.decompose(holed, weights="w", n_boot=0, seed=0, **KW)
    b = eh.decompose(holed.filter(pl.col("w").is_not_null()), weights="w", n_boot=0, seed=0, **KW)
    assert a.n_dropped == 1
    np.testing.assert_allclose(point(a), point(b), atol=1e-12)


def test_bad_weights() -> None:
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = data(200, seed=11)
    kw = {**KW, "weights": "w", "n_boot": 0}
    for bad in (-1.0, float("inf")):
        frame = df.with_columns(w=pl.when(pl.int_range(pl.len()) == 3).then(bad).otherwise("w"))
        with pytest.raises(EvenhandError, match=r"weights column 'w' must hold finite non-neg"):
            eh.decompose(frame, **kw)
    none_in_a = df.with_columns(w=pl.when(pl.col("g") == 1).then(0).otherwise("w"))
    with pytest.raises(EvenhandError, match=r"Every row of group 1 has weight 0"):
        eh.decompose(none_in_a, **kw)
    with pytest.raises(EvenhandError, match=r"\['KNeighborsRegressor'\] .* sample_weight"):
        eh.decompose(df, model=KNeighborsRegressor(), **kw)
    knn = make_pipeline(StandardScaler(), KNeighborsRegressor())
    with pytest.raises(EvenhandError, match=r"\['kneighborsregressor'\] .* pass weights=None"):
        eh.decompose(df, model=knn, **kw)


def test_weighted_matching_matches_the_linear_closed_form() -> None:
    # with a linear model and independent factor groups, v(S) = β₀ + Σ_S β_j x̄_Aj +
    # Σ_not-S β_j x̄_Bj, so each factor's Shapley value is Σ_j β_j (x̄_Aj − x̄_Bj) with
    # weighted means and weighted least-squares β (oracle: statsmodels WLS)
    import statsmodels.api as sm

    df = data(1500, seed=12).with_columns(w=1.0 + 3.0 * (pl.col("x1") > 0))
    factors = {"first": ["x1"], "second": ["x2"], "third": ["x3"]}
    y, g, w = (df[c].to_numpy() for c in ("y", "g", "w"))
    x = df.select("x1", "x2", "x3").to_numpy()
    beta = sm.WLS(y, sm.add_constant(x), weights=w).fit().params[1:]
    a, b = g == 1, g == 0
    diff = np.average(x[a], axis=0, weights=w[a]) - np.average(x[b], axis=0, weights=w[b])
    kw = {**KW, "factors": factors, "reference": "neumark", "n_boot": 0, "seed": 0}
    res = eh.decompose(df, weights="w", max_pairs=200_000, **kw)
    np.testing.assert_allclose(res.explained, beta @ diff, atol=1e-10)
    np.testing.assert_allclose(res.by_factor["contribution"], beta * diff, atol=0.01)
    # the unweighted closed form is far off: the weights matter
    diff_u = x[a].mean(axis=0) - x[b].mean(axis=0)
    assert np.max(np.abs(beta * diff_u - beta * diff)) > 0.05
