"""Intervals against statsmodels, and their coverage checked by simulation."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import evenhand
from evenhand._core._disparity import summary_frame
from evenhand._core._levels import binary_levels
from evenhand._core._stats import BinaryStats
from evenhand._core._uncertainty import (
    chi2_homogeneity,
    katz,
    newcombe,
    normal_quantile,
    wald_homogeneity,
    wilson,
)

Z = normal_quantile(0.95)


@given(st.integers(0, 200), st.integers(1, 200))
@settings(max_examples=60, deadline=None)
def test_wilson_equals_statsmodels(x, n):
    from statsmodels.stats.proportion import proportion_confint

    x = min(x, n)
    low, high = wilson(np.array(x), np.array(n), Z)
    ref_low, ref_high = proportion_confint(x, n, alpha=0.05, method="wilson")
    assert float(low) == pytest.approx(ref_low, abs=1e-12)
    assert float(high) == pytest.approx(ref_high, abs=1e-12)


@given(st.integers(1, 100), st.integers(2, 100), st.integers(1, 100), st.integers(2, 100))
@settings(max_examples=60, deadline=None)
def test_newcombe_and_katz_equal_statsmodels(x1, n1, x2, n2):
    from statsmodels.stats.proportion import confint_proportions_2indep

    x1, x2 = min(x1, n1 - 1), min(x2, n2 - 1)
    low, high = newcombe(x1, n1, x2, n2, Z)
    ref = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff")
    assert (float(low), float(high)) == pytest.approx(ref, abs=1e-10)
    low, high = katz(x1, n1, x2, n2, Z)
    ref = confint_proportions_2indep(x1, n1, x2, n2, method="log", compare="ratio")
    assert (float(low), float(high)) == pytest.approx(ref, rel=1e-10)


def test_chi2_equals_scipy_contingency():
    from scipy.stats import chi2_contingency

    x, n = np.array([30, 45, 12]), np.array([100, 120, 60])
    stat, df = chi2_homogeneity(x, n)
    ref = chi2_contingency(np.stack([x, n - x]), correction=False)
    assert stat == pytest.approx(ref.statistic)
    assert df == ref.dof


def test_zero_denominators_give_nan():
    low, high = wilson(np.array([0.0]), np.array([0.0]), Z)
    assert np.isnan(low).all()
    assert np.isnan(high).all()
    low, high = katz(0, 10, 0, 10, Z)
    assert np.isnan(low)
    assert np.isnan(high)


# ------------------------------------------------------------------ coverage by simulation

SIMS = 2000


def test_wilson_coverage_of_a_rate():
    rng = np.random.default_rng(0)
    n, p = 80, 0.3
    x = rng.binomial(n, p, SIMS)
    low, high = wilson(x, np.full(SIMS, n), Z)
    coverage = np.mean((low <= p) & (p <= high))
    assert 0.93 <= coverage <= 0.97


def test_newcombe_coverage_of_a_difference():
    rng = np.random.default_rng(1)
    n1, p1, n2, p2 = 120, 0.35, 90, 0.2
    x1, x2 = rng.binomial(n1, p1, SIMS), rng.binomial(n2, p2, SIMS)
    low, high = newcombe(x1, n1, x2, n2, Z)
    coverage = np.mean((low <= p1 - p2) & (p1 - p2 <= high))
    assert 0.93 <= coverage <= 0.97


def _stats_from_counts(selected: np.ndarray, sizes: np.ndarray) -> BinaryStats:
    """Counts per group of (y=0, ŷ) only: enough for selection-rate spreads."""
    g = len(sizes)
    weight = np.zeros((g, 2, 2, 1))
    weight[:, 0, 1, 0] = selected
    weight[:, 0, 0, 0] = sizes - selected
    return BinaryStats(keys=pl.DataFrame({"g": [f"g{i}" for i in range(g)]}), weight=weight,
                       rows=weight.astype(np.int64), weight_sq=weight.copy())


def _spread_coverage(rates: np.ndarray, sizes: np.ndarray, ci_method: str, sims: int,
                     n_boot: int = 0) -> float:
    rng = np.random.default_rng(2)
    true_diff = rates.max() - rates.min()
    true_ratio = rates.min() / rates.max()
    hits = 0
    for _ in range(sims):
        stats = _stats_from_counts(rng.binomial(sizes, rates), sizes)
        levels, _ = binary_levels(stats, names=["selection_rate"], specs=[("g",)], ci=0.95,
                                  ci_method=ci_method, n_boot=n_boot,
                                  rng=rng, min_group_size=0, favorable="positive")
        row = summary_frame(levels, 0.95, None).row(0, named=True)
        hits += (row["difference_ci_low"] <= true_diff <= row["difference_ci_high"]
                 and row["ratio_ci_low"] <= true_ratio <= row["ratio_ci_high"])
    return hits / sims


@pytest.mark.parametrize("rates", [[0.3, 0.3, 0.3, 0.3], [0.2, 0.3, 0.35, 0.4]],
                         ids=["no-spread", "spread"])
def test_spread_interval_keeps_coverage_analytic(rates):
    coverage = _spread_coverage(np.array(rates), np.array([200, 150, 120, 90]), "wilson", SIMS)
    assert coverage >= 0.93


@pytest.mark.slow
@pytest.mark.parametrize("rates", [[0.3, 0.3, 0.3], [0.2, 0.3, 0.4]],
                         ids=["no-spread", "spread"])
def test_spread_interval_keeps_coverage_bootstrap(rates):
    coverage = _spread_coverage(np.array(rates), np.array([200, 150, 120]), "bootstrap", SIMS,
                                n_boot=1000)
    assert coverage >= 0.93


def test_percentile_bootstrap_of_spread_fails_where_ours_holds():
    """Why the construction matters: the naive interval cannot cover a zero spread."""
    rng = np.random.default_rng(3)
    sizes, p = np.array([200, 150, 120, 90]), 0.3
    naive_hits = 0
    for _ in range(100):
        x = rng.binomial(sizes, p)
        boot = rng.binomial(sizes, x / sizes, size=(500, 4)) / sizes
        spread = boot.max(axis=1) - boot.min(axis=1)
        naive_hits += np.quantile(spread, 0.025) <= 0.0
    assert naive_hits == 0
    assert _spread_coverage(np.full(4, p), sizes, "wilson", 100) >= 0.9


def test_count_table_bootstrap_spread_matches_a_row_bootstrap():
    """The draws (confusion cells, then each label's merged score bins) give the same
    replicate spread as resampling rows within each group, score metrics included."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(21)
    n = 3000
    group = rng.integers(0, 2, n)
    score = np.clip(rng.beta(2, 3, n) + 0.1 * group, 0, 1)
    y = (rng.random(n) < score).astype(np.int64)
    df = pl.DataFrame({"g": group, "y": y, "score": score})
    names = ["tpr", "fpr", "auc", "brier", "mean_score_pos", "ece"]
    result = evenhand.audit(df, y_true="y", y_score="score", threshold=0.5, sensitive="g",
                            metrics=names, ci_method="bootstrap", n_boot=2000, seed=0)
    level = result.levels[0]
    ours = level.boot.std(axis=0)  # [metric, group]

    def row_metrics(yy, ss):
        pred = ss >= 0.5
        decile = np.minimum((ss * 10).astype(int), 9)
        ece = sum(abs(yy[decile == m].sum() - ss[decile == m].sum()) for m in range(10))
        return [pred[yy == 1].mean(), pred[yy == 0].mean(), roc_auc_score(yy, ss),
                np.mean((ss - yy) ** 2), ss[yy == 1].mean(), ece / len(yy)]

    for g, key in enumerate(level.keys["g"].to_list()):
        yy, ss = y[group == key], score[group == key]
        draws = [rng.integers(0, yy.size, yy.size) for _ in range(500)]
        rows = np.array([row_metrics(yy[i], ss[i]) for i in draws]).std(axis=0)
        # Monte Carlo error of the two SDs is about 4%; 15% is 3.5 of those
        np.testing.assert_allclose(ours[:, g], rows, rtol=0.15, err_msg=str(names))


@pytest.mark.slow
def test_bootstrap_auc_interval_keeps_its_coverage():
    """Percentile intervals of the AUC from the merged-bin count-table bootstrap cover the
    true AUC at about the nominal rate (positives ~ Beta(3, 2), negatives ~ Beta(2, 3))."""
    from scipy import integrate
    from scipy import stats as sps

    pos, neg = sps.beta(3, 2), sps.beta(2, 3)
    true_auc = integrate.quad(lambda s: neg.cdf(s) * pos.pdf(s), 0, 1, epsabs=1e-12)[0]
    rng = np.random.default_rng(5)
    sims, hits = 1000, 0
    for _ in range(sims):
        y = rng.integers(0, 2, 1500)
        score = np.where(y == 1, pos.rvs(1500, random_state=rng), neg.rvs(1500, random_state=rng))
        df = pl.DataFrame({"y": y, "score": score, "g": np.zeros(1500, dtype=np.int64)})
        result = evenhand.audit(df, y_true="y", y_score="score", threshold=0.5, sensitive="g",
                                metrics=["auc"], ci_method="bootstrap", n_boot=500,
                                seed=int(rng.integers(2**31)))
        row = result.overall.row(0, named=True)
        hits += row["ci_low"] <= true_auc <= row["ci_high"]
    assert 0.93 <= hits / sims <= 0.97, hits / sims


def test_wald_homogeneity_by_hand():
    # inverse-variance weights 100 and 25
    stat, df = wald_homogeneity(np.array([0.1, 0.5, np.nan, 0.2]),
                                np.array([0.01, 0.04, 0.01, 0.0]))
    mean = (100 * 0.1 + 25 * 0.5) / 125  # the nan estimate and the zero variance are left out
    assert df == 1
    assert stat == pytest.approx(100 * (0.1 - mean) ** 2 + 25 * (0.5 - mean) ** 2, rel=1e-12)
    assert wald_homogeneity(np.array([0.1]), np.array([0.01])) == (pytest.approx(np.nan,
                                                                                 nan_ok=True), 0)
