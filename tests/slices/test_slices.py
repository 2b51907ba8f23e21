"""find_slices: planted slices, statistics against statsmodels/scipy, engines, bad input."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

import evenhand
from evenhand import EvenhandError
from evenhand._slices._slices import slices_chart

COLUMNS = ["slice", "size", "error", "error_ci_low", "error_ci_high", "lift", "p_value", "score"]


def planted(seed: int, n: int = 20_000, rate: float = 0.1) -> tuple[pl.DataFrame, np.ndarray]:
    """Noise features plus a 3-way slice (~8% of rows) with 3x the error of the rest."""
    rng = np.random.default_rng(seed)
    df = pl.DataFrame({
        "a": rng.choice(["x", "z"], n),
        "b": rng.choice(["y", "w"], n),
        "c": rng.choice(["p", "q", "r"], n),
        **{f"noise{j}": rng.choice(list("klmn"), n) for j in range(4)},
        "age": rng.integers(18, 90, n),
    })
    hot = ((df["a"] == "x") & (df["b"] == "y") & (df["c"] == "p")).to_numpy()
    err = (rng.random(n) < np.where(hot, 3 * rate, rate)).astype(np.int64)
    return df.with_columns(err=err), hot


@pytest.mark.parametrize("seed", range(3))
def test_planted_three_way_slice_ranks_first(seed):
    df, hot = planted(seed)
    features = ["a", "b", "c", "noise0", "noise1", "noise2", "noise3", "age"]
    result, info = evenhand.find_slices(df, features=features, loss="err", return_stats=True)
    top = result.row(0, named=True)
    assert top["slice"] == "a == 'x' & b == 'y' & c == 'p'"
    err = df["err"].to_numpy()
    assert top["size"] == hot.sum()
    assert top["error"] == pytest.approx(err[hot].mean(), rel=1e-12)
    assert top["lift"] == pytest.approx(err[hot].mean() / err.mean(), rel=1e-12)
    assert top["score"] > 0
    assert result["score"].is_sorted(descending=True)
    assert info.candidates_evaluated <= info.lattice_size
    assert info.predicates[0] == ["a == 'x'", "b == 'y'", "c == 'p'"]


def test_ranking_by_lift_and_significance():
    df, _ = planted(5)
    feats = ["a", "b", "c", "noise0"]
    by_lift = evenhand.find_slices(df, features=feats, loss="err", rank_by="lift", top_k=5)
    assert by_lift["lift"].is_sorted(descending=True)
    assert by_lift["lift"].min() > 1
    by_sig = evenhand.find_slices(df, features=feats, loss="err", rank_by="significance")
    assert by_sig["slice"][0] == "a == 'x' & b == 'y' & c == 'p'"
    assert by_sig["p_value"].is_sorted()


def test_statistics_match_statsmodels_for_a_binary_loss():
    rng = np.random.default_rng(3)
    n = 3000
    g = rng.choice(["u", "v", "w"], n)
    err = (rng.random(n) < np.where(g == "u", 0.16, 0.12)).astype(float)
    result, info = evenhand.find_slices(
        {"g": g, "e": err}, features=["g"], loss="e", rank_by="lift", top_k=3,
        return_stats=True, confidence=0.9,
    )
    assert info.loss_kind == "0/1"
    for row in result.iter_rows(named=True):
        mask = g == row["slice"].split("'")[1]
        count, size = err[mask].sum(), mask.sum()
        low, high = proportion_confint(count, size, alpha=0.1, method="wilson")
        assert (row["error_ci_low"], row["error_ci_high"]) == pytest.approx((low, high), rel=1e-10)
        _, p = proportions_ztest([count, err[~mask].sum()], [size, (~mask).sum()],
                                 alternative="larger")
        assert row["p_value"] == pytest.approx(min(1.0, p * info.candidates_evaluated), rel=1e-8)


def test_statistics_match_scipy_for_a_continuous_loss():
    rng = np.random.default_rng(4)
    n = 2000
    g = rng.choice(["u", "v"], n)
    y = rng.normal(size=n)
    pred = y + rng.normal(scale=np.where(g == "u", 1.2, 1.0))
    result, info = evenhand.find_slices(
        {"g": g, "y": y, "p": pred}, features="g", y_true="y", y_pred="p", return_stats=True,
        alpha=1.0,
    )
    assert info.loss_kind == "continuous"
    row = result.row(0, named=True)
    assert row["slice"] == "g == 'u'"
    mask = g == "u"
    loss = (y - pred) ** 2
    low, high = stats.t.interval(0.95, mask.sum() - 1, loc=loss[mask].mean(),
                                 scale=stats.sem(loss[mask]))
    assert (row["error_ci_low"], row["error_ci_high"]) == pytest.approx((low, high), rel=1e-10)
    p = stats.ttest_ind(loss[mask], loss[~mask], equal_var=False, alternative="greater").pvalue
    assert row["p_value"] == pytest.approx(min(1.0, p * info.candidates_evaluated), rel=1e-6)


def test_bootstrap_interval_is_seeded_and_brackets_the_error():
    rng = np.random.default_rng(6)
    n = 600
    data = {"g": rng.choice(["u", "v"], n), "loss": rng.exponential(size=n)}
    kwargs = {"features": ["g"], "loss": "loss", "rank_by": "lift", "ci": "bootstrap",
              "n_boot": 500}
    first = evenhand.find_slices(data, seed=1, **kwargs)
    again = evenhand.find_slices(data, seed=1, **kwargs)
    assert first.equals(again)
    t_based = evenhand.find_slices(data, **(kwargs | {"ci": "auto"}))
    for boot, t in zip(first.iter_rows(named=True), t_based.iter_rows(named=True), strict=True):
        assert boot["error_ci_low"] < boot["error"] < boot["error_ci_high"]
        width_ratio = (boot["error_ci_high"] - boot["error_ci_low"]) / (
            t["error_ci_high"] - t["error_ci_low"])
        assert 0.7 < width_ratio < 1.3
    binary = {"g": data["g"], "loss": (data["loss"] > 1).astype(float)}
    boot = evenhand.find_slices(binary, seed=3, **kwargs)
    wilson = evenhand.find_slices(binary, **(kwargs | {"ci": "auto"}))
    bounds = ["error_ci_low", "error_ci_high"]
    np.testing.assert_allclose(boot.select(bounds).to_numpy(), wilson.select(bounds).to_numpy(),
                               atol=0.02)


def test_numeric_features_are_binned_with_readable_ranges():
    n = 1000
    age = np.arange(n) % 100
    err = (age < 25).astype(float)
    result = evenhand.find_slices({"age": age, "e": err}, features=["age"], loss="e", n_bins=4)
    assert result["slice"].to_list() == ["age in [0, 25)"]
    assert result["error"][0] == 1.0


def test_nulls_and_odd_column_names_become_predicates():
    n = 400
    rng = np.random.default_rng(2)
    city = pl.Series("home city", rng.choice(["A", "B", None], n).tolist(), dtype=pl.String)
    err = (rng.random(n) < np.where(city.is_null().to_numpy(), 0.8, 0.1)).astype(float)
    df = pl.DataFrame({"home city": city, "e": err})
    result = evenhand.find_slices(df, features=["home city"], loss="e")
    assert result["slice"][0] == "`home city` is null"


LABELS = {
    "strings": (np.array(["a", "b", "a", "b"] * 25), np.array(["a", "a", "b", "b"] * 25)),
    "integers": (np.array([0, 1, 0, 1] * 25), np.array([0, 0, 1, 1] * 25)),
}


@pytest.mark.parametrize("kind", LABELS)
def test_labels_give_the_zero_one_loss(kind):
    y, pred = LABELS[kind]
    g = np.array(["u"] * 50 + ["v"] * 50)
    g[::4] = "v"  # rows where y == pred fall mostly in "v"
    _, info = evenhand.find_slices({"g": g, "y": y, "p": pred}, features=["g"], y_true="y",
                                   y_pred="p", return_stats=True, min_support=5)
    assert info.loss_kind == "0/1"
    assert info.mean_error == pytest.approx(np.mean(y != pred))


def test_result_in_the_callers_library_and_engines_agree():
    df, _ = planted(1, n=4000)
    feats = ["a", "b", "c"]
    expected = evenhand.find_slices(df, features=feats, loss="err")
    from_pandas = evenhand.find_slices(df.to_pandas(), features=feats, loss="err")
    assert isinstance(from_pandas, pd.DataFrame)
    assert list(from_pandas.columns) == COLUMNS
    pd.testing.assert_frame_equal(from_pandas, expected.to_pandas())
    arrow = df.to_arrow()
    relation = duckdb.from_arrow(arrow)
    for other in (df.lazy(), arrow, relation, df.to_dict(as_series=False)):
        got = evenhand.find_slices(other, features=feats, loss="err")
        assert isinstance(got, pl.DataFrame)
        assert got.equals(expected)


def test_input_is_not_mutated():
    df, _ = planted(0, n=2000)
    pdf = df.to_pandas()
    before = pdf.copy()
    evenhand.find_slices(pdf, features=["a", "age"], loss="err")
    pd.testing.assert_frame_equal(pdf, before)


def test_loss_as_array_and_max_order_capped_at_feature_count():
    df, _ = planted(0, n=2000)
    err = df["err"].to_numpy()
    a = evenhand.find_slices(df, features=["a", "b"], loss=err, max_order=5)
    b = evenhand.find_slices(df, features=["a", "b"], loss="err", max_order=2)
    assert a.equals(b)


def test_slices_chart_layers_bars_interval_and_overall_rule():
    pytest.importorskip("altair")
    df, _ = planted(0, n=5000)
    result = evenhand.find_slices(df.to_pandas(), features=["a", "b", "c"], loss="err")
    spec = slices_chart(result).to_dict()
    assert len(spec["layer"]) == 3
    values = spec["layer"][0]["data"]["values"]
    assert [v["slice"] for v in values] == result["slice"].tolist()
    rule = spec["layer"][2]["data"]["values"][0]["overall"]
    assert rule == pytest.approx(df["err"].mean())
    vl_convert = pytest.importorskip("vl_convert")
    svg = vl_convert.vegalite_to_svg(slices_chart(result).to_json())
    assert svg.startswith("<svg")
    assert "mean error in slice" in svg


def test_slices_chart_rejects_a_table_without_the_columns():
    with pytest.raises(EvenhandError, match=r"Column 'size' \(given as frame\) is not in the data"):
        slices_chart(pl.DataFrame({"slice": ["x"]}))


GOOD = {"features": ["g"], "loss": "e"}
BAD_INPUTS = [
    ({"features": ["g", "nope"]}, "Column 'nope' .given as features. is not in the data"),
    ({"loss": None}, "needs the per-row loss or the labels"),
    ({"loss": None, "y_true": "y"}, "needs the per-row loss or the labels"),
    ({"y_true": "y", "y_pred": "y"}, "either 'loss' or 'y_true' with 'y_pred'; got both"),
    ({"loss": "nan_loss"}, "holds 1 NaN or infinite values .first at row 3.; got nan"),
    ({"loss": "neg_loss"}, "must be non-negative .* got -1.0"),
    ({"loss": "null_loss"}, "has 1 missing values"),
    ({"loss": [0.0, 1.0]}, "'loss' array has 2 values but the data has 40 rows"),
    ({"loss": None, "y_true": "nan_loss", "y_pred": "e"}, r"'\|nan_loss - e\|' holds 1 NaN"),
    ({"loss": None, "y_true": "null_loss", "y_pred": "e"},
     r"'null_loss' \(given as y_true\) has 1 missing values"),
    ({"max_order": 0}, "'max_order' .* integer >= 1; got 0"),
    ({"max_order": True}, "'max_order' .* got True"),
    ({"top_k": 0}, "'top_k' .* got 0"),
    ({"n_bins": 1}, "'n_bins' .* got 1"),
    ({"alpha": 0.0}, r"'alpha' .* in \(0, 1\]; got 0.0"),
    ({"alpha": 1.5}, "'alpha' .* got 1.5"),
    ({"confidence": 1.0}, r"'confidence' .* in \(0, 1\); got 1.0"),
    ({"min_support": 0}, "'min_support' .* got 0"),
    ({"min_support": "ten"}, "'min_support' .* got 'ten'"),
    ({"rank_by": "auc"}, "'rank_by' .* one of .'score', 'lift', 'significance'.; got 'auc'"),
    ({"ci": "exact"}, "'ci' .* got 'exact'"),
    ({"features": []}, "'features' argument must be a column name or a non-empty list"),
    ({"features": ["inf_feature"]}, "'inf_feature' holds infinite values"),
    ({"features": ["g", "g"]}, r"names \['g'\] more than once"),
]


@pytest.mark.parametrize(("change", "message"), BAD_INPUTS)
def test_bad_input_is_named(change, message):
    n = 40
    e = np.tile([0.0, 1.0], n // 2)
    data = pl.DataFrame({
        "g": np.tile(["a", "b"], n // 2), "e": e, "y": e,
        "nan_loss": np.where(np.arange(n) == 3, np.nan, e),
        "neg_loss": np.where(np.arange(n) == 5, -1.0, e),
        "null_loss": pl.Series([None, *e[1:]], dtype=pl.Float64),
        "inf_feature": np.where(np.arange(n) == 0, np.inf, np.arange(n, dtype=float)),
    })
    with pytest.raises(EvenhandError, match=message):
        evenhand.find_slices(data, **(GOOD | change))


def test_empty_data_is_an_error():
    data = pl.DataFrame({"g": pl.Series([], dtype=pl.String), "e": pl.Series([], dtype=float)})
    with pytest.raises(EvenhandError, match="0 rows"):
        evenhand.find_slices(data, features=["g"], loss="e")


def test_docstring_example_runs():
    import doctest

    from evenhand._slices import _chart as _slices_chart
    from evenhand._slices import _slices

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for module in (_slices, _slices_chart):
        for test in finder.find(module):
            runner.run(test)
    assert runner.failures == 0
    assert runner.tries >= 10


def test_numeric_feature_with_many_nulls_is_still_binned():
    n = 1000
    income = pl.Series("income", [None if i % 2 else float(i % 100) for i in range(n)])
    err = np.where(income.is_null().to_numpy(), 0.0, (np.arange(n) % 100 < 20).astype(float))
    result, info = evenhand.find_slices(pl.DataFrame({"income": income, "e": err}),
                                        features=["income"], loss="e", return_stats=True)
    assert result["slice"].to_list() == ["income in [0, 20)"]
    assert info.lattice_size == 6  # five quantile bins and the null level


def test_binary_bootstrap_matches_resampling_rows():
    """The binomial shortcut has the distribution of resampled rows."""
    from evenhand._slices._stats import _bootstrap_means

    losses = (np.random.default_rng(0).random(400) < 0.3).astype(float)
    fast = _bootstrap_means(losses, True, np.random.default_rng(1), 20_000)
    slow = _bootstrap_means(losses, False, np.random.default_rng(2), 20_000)
    assert stats.ks_2samp(fast, slow).pvalue > 0.001
    assert fast.mean() == pytest.approx(losses.mean(), abs=2e-3)
    assert fast.std() == pytest.approx(slow.std(), rel=0.05)
