"""Delta-method standard errors of the Fairlie decomposition (gradients, V(β̂), bootstrap)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.special import expit
from scipy.stats import norm

import evenhand as eh
from evenhand._decompose._design import build_design
from evenhand._decompose._fairlie import (
    _detail,
    _detail_sorted,
    _explained_gradient,
    _reference_data,
    _sorted_by_index,
    coef_covariance,
    fit_binary,
)

FACTORS = {"one": ["x1", "c"], "two": ["x2", "x3"]}


def binary_data(n: int = 4000, seed: int = 0, weighted: bool = False) -> pl.DataFrame:
    """Two equal groups whose regressor means differ by about one standard deviation.

    The coefficients are modest, so the coefficients' sampling error dominates that of the
    regressor means, which the delta method leaves out (as Fairlie's and Jann's do): the
    bootstrap, which has both, then agrees with it up to a few percent.
    """
    rng = np.random.default_rng(seed)
    g = (np.arange(n) >= n // 2).astype(int)
    x1 = rng.normal(size=n) + 1.5 * g
    x2 = rng.normal(size=n) - 1.0 * g
    x3 = rng.normal(size=n) + 1.0 * g
    c = np.where(rng.random(n) < 0.2 + 0.5 * g, "yes", "no")
    eta = -0.2 + 0.25 * x1 - 0.2 * x2 + 0.15 * x3 + 0.3 * (c == "yes")
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(int)
    cols = {"y": y, "g": g, "x1": x1, "x2": x2, "x3": x3, "c": c}
    if weighted:
        cols["w"] = rng.uniform(0.5, 2.0, n)
    return pl.DataFrame(cols)


def design_of(df: pl.DataFrame, weighted: bool):
    return build_design(
        df,
        outcome="y",
        group="g",
        factors=FACTORS,
        weights="w" if weighted else None,
        groups=(0, 1),
        reference=None,
    )


def split(design):
    """Rows, weights of A and B and the units in the order ``fairlie`` uses."""
    a, b = design.slices()
    w = design.w
    units = [u[2] for u in sorted(design.units, key=lambda u: u[0])]
    return design.z[a], design.z[b], None if w is None else w[a], None if w is None else w[b], units


# --- V(β̂) against statsmodels -------------------------------------------------------------


@pytest.mark.parametrize("link", ["logit", "probit"])
@pytest.mark.parametrize("reference", ["jann", "neumark", ("weight", 1.0)])
def test_covariance_matches_statsmodels(link: str, reference) -> None:
    import statsmodels.api as sm

    design = design_of(binary_data(3000, seed=2), weighted=False)
    z, y, w = _reference_data(design.z, design.y, design.w, design.in_b, reference)
    beta = fit_binary(z, y, w, link)
    fitted = (sm.Logit if link == "logit" else sm.Probit)(y, z).fit(disp=0, tol=1e-12)
    np.testing.assert_allclose(beta, fitted.params, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(
        coef_covariance(z, y, w, beta, link), fitted.cov_params(), rtol=1e-6, atol=0
    )


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_weighted_covariance_is_the_sandwich_of_statsmodels(link: str) -> None:
    import statsmodels.api as sm

    design = design_of(binary_data(3000, seed=3, weighted=True), weighted=True)
    z, y, w = _reference_data(design.z, design.y, design.w, design.in_b, "jann")
    beta = fit_binary(z, y, w, link)
    family = sm.families.Binomial(
        link=sm.families.links.Logit() if link == "logit" else sm.families.links.Probit()
    )
    fitted = sm.GLM(y, z, family=family, var_weights=w).fit(
        cov_type="HC0", method="newton", tol=1e-12, disp=0
    )
    n = y.shape[0]  # Stata's small-sample factor n / (n - 1) on top of statsmodels' HC0
    cov = coef_covariance(z, y, w, beta, link)
    np.testing.assert_allclose(cov, fitted.cov_params() * n / (n - 1), rtol=1e-6, atol=0)
    # sampling weights: only their relative sizes matter
    np.testing.assert_allclose(coef_covariance(z, y, 7.5 * w, beta, link), cov, rtol=1e-10)


# --- analytic gradients against finite differences ------------------------------------------


def central_difference(fun, beta: np.ndarray, h: float = 1e-5) -> np.ndarray:
    cols = []
    for j in range(beta.shape[0]):
        e = np.zeros_like(beta)
        e[j] = h
        cols.append((fun(beta + e) - fun(beta - e)) / (2 * h))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("link", ["logit", "probit"])
@pytest.mark.parametrize("weighted", [False, True])
def test_contribution_gradient_matches_finite_differences(link: str, weighted: bool) -> None:
    # unequal group sizes so the larger group is subsampled (with replacement if weighted)
    df = binary_data(1500, seed=4, weighted=weighted).head(1300)
    design = design_of(df, weighted)
    za, zb, wa, wb, units = split(design)
    beta = fit_binary(design.z, design.y, design.w, link)
    matched = _sorted_by_index(za, zb, wa, wb, beta)

    def contributions(b: np.ndarray, gradient: bool = False):
        # the same seed draws the same subsamples and orders; rows stay matched by β̂
        rng = np.random.default_rng(11)
        return _detail_sorted(matched, b, units, 7, link, rng, gradient=gradient)

    value, grad = contributions(beta, gradient=True)
    np.testing.assert_array_equal(value, contributions(beta)[0])
    # at β̂ this is the library's path: sort by the same β, then draw
    library = _detail(za, zb, wa, wb, beta, units, 7, link, np.random.default_rng(11))
    np.testing.assert_array_equal(value, library[0])
    numeric = central_difference(lambda b: contributions(b)[0], beta)
    assert grad is not None
    scale = np.abs(numeric).max()
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-6 * scale)

    cdf = norm.cdf if link == "probit" else expit

    def explained(b: np.ndarray) -> float:
        return float(np.average(cdf(za @ b), weights=wa) - np.average(cdf(zb @ b), weights=wb))

    np.testing.assert_allclose(
        _explained_gradient(za, zb, wa, wb, beta, link),
        central_difference(explained, beta),
        rtol=1e-6,
        atol=1e-9,
    )


# --- delta method against the bootstrap and how it is reported ------------------------------


def explained_rows(res: eh.Decomposition) -> pl.DataFrame:
    cols = ["contribution", "se", "se_delta"]
    return pl.concat(
        [res.overall.select(cols), res.by_factor.select(cols), res.by_variable.select(cols)]
    ).filter(pl.col("se_delta").is_not_null())


@pytest.mark.parametrize(
    ("model", "reference", "weighted"),
    [("logit", "jann", False), ("probit", 0, False), ("logit", "neumark", True)],
)
def test_delta_and_bootstrap_standard_errors_agree(model, reference, weighted) -> None:
    res = eh.decompose(
        binary_data(4000, seed=1, weighted=weighted),
        outcome="y",
        group="g",
        factors=FACTORS,
        method="fairlie",
        model=model,
        reference=reference,
        weights="w" if weighted else None,
        n_boot=400,  # the relative error of a bootstrap SE is ~3.5% with 400 replicates
        n_orders=20,
        seed=0,
    )
    table = explained_rows(res)
    assert table.height == 7  # explained total, 2 factor groups, 4 variables
    ratio = (table["se"] / table["se_delta"]).to_numpy()
    # the bootstrap also carries the regressors' and the matching's variation: ratio >= ~1
    assert np.all(np.abs(ratio - 1) < 0.15), ratio


def test_delta_standard_errors_give_the_intervals_without_bootstrap() -> None:
    res = eh.decompose(
        binary_data(2000, seed=5),
        outcome="y",
        group="g",
        factors=FACTORS,
        method="fairlie",
        n_boot=0,
        n_orders=10,
        seed=0,
    )
    table = explained_rows(res)
    assert table.height == 7
    np.testing.assert_allclose(table["se"], table["se_delta"], rtol=1e-12)
    both = pl.concat([res.overall, res.by_factor.drop("factor")])
    both = both.filter(pl.col("se_delta").is_not_null())
    z = norm.ppf(0.975)
    np.testing.assert_allclose(both["ci_low"], both["contribution"] - z * both["se"], rtol=1e-12)
    np.testing.assert_allclose(both["ci_high"], both["contribution"] + z * both["se"], rtol=1e-12)
    # the gap and the unexplained part do not depend on β alone: no delta-method SE
    overall = res.overall.filter(pl.col("component") != "explained")
    assert overall["se_delta"].null_count() == overall.height == 2
    assert res.to_dict()["overall"][0]["se_delta"] is None
