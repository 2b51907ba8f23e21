"""The audit engine against hand-computed values, published results and peer libraries."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import evenhand
from engines import ENGINES, to_engine
from evenhand import EvenhandError


def _random_frame(n: int = 4000, seed: int = 0, weighted: bool = False) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    race = rng.choice(["a", "b", "c", "d", "e"], n, p=[0.4, 0.25, 0.15, 0.12, 0.08])
    sex = rng.choice(["F", "M"], n)
    score = np.clip(rng.beta(2, 3, n) + (race == "b") * 0.1, 0, 1)
    y = (rng.random(n) < score).astype(np.int64)
    columns = {"race": race, "sex": sex, "y": y, "score": score,
               "pred": (score >= 0.45).astype(np.int64)}
    if weighted:
        columns["w"] = rng.integers(1, 5, n).astype(float)
    return pl.DataFrame(columns)


# ------------------------------------------------------------------ hand-computed values


def test_hand_computed_rates_and_disparities():
    df = pl.DataFrame({
        "y":    [1, 1, 0, 0, 0, 1, 1, 0, 0, 0],
        "pred": [1, 0, 1, 0, 0, 1, 1, 1, 1, 0],
        "g":    ["a"] * 5 + ["b"] * 5,
    })
    result = evenhand.audit(df, y_true="y", y_pred="pred", sensitive="g", n_boot=0)
    by = result.by_group.sort("g")
    # group a: TP=1 FN=1 FP=1 TN=2; group b: TP=2 FN=0 FP=2 TN=1
    assert by["tpr"].to_list() == [0.5, 1.0]
    assert by["fpr"].to_list() == pytest.approx([1 / 3, 2 / 3])
    assert by["ppv"].to_list() == [0.5, 0.5]
    assert by["selection_rate"].to_list() == [0.4, 0.8]
    assert by["accuracy"].to_list() == [0.6, 0.6]
    assert by["treatment_equality"].to_list() == [1.0, 0.0]
    assert by["f1"].to_list() == pytest.approx([0.5, 2 / 3])
    dis = result.disparities(reference="a").filter(pl.col("metric") == "selection_rate")
    row = dis.filter(pl.col("g") == "b").row(0, named=True)
    assert row["difference"] == pytest.approx(0.4)
    assert row["ratio"] == pytest.approx(2.0)
    summary = result.summary().filter(pl.col("definition") == "disparate_impact").row(0, named=True)
    assert summary["between_groups_ratio"] == pytest.approx(0.5)
    assert summary["satisfied"] is False
    assert summary["worst_group"] == "a"  # lower selection rate is worse when favorable
    ci = result.metrics.filter((pl.col("metric") == "tpr") & (pl.col("g") == "a")).row(
        0, named=True)
    from statsmodels.stats.proportion import proportion_confint

    assert (ci["ci_low"], ci["ci_high"]) == pytest.approx(
        proportion_confint(1, 2, alpha=0.05, method="wilson"), abs=1e-12)


def test_zero_division_is_nan_and_flagged():
    df = pl.DataFrame({"y": [0, 0, 1, 1], "pred": [0, 0, 1, 0], "g": ["a", "a", "b", "b"]})
    result = evenhand.audit(df, y_true="y", y_pred="pred", sensitive="g", n_boot=0)
    tpr = result.metrics.filter((pl.col("metric") == "tpr") & (pl.col("g") == "a")).row(
        0, named=True)
    assert np.isnan(tpr["value"])
    assert "zero_division" in tpr["flag"]
    assert "small_group" in tpr["flag"]


def test_intersections_and_marginals_are_sums_of_one_table():
    df = _random_frame()
    result = evenhand.audit(df, y_true="y", y_pred="pred", sensitive=["race", "sex"], n_boot=0)
    by = result.by_group
    assert set(result.metrics["by"].unique()) == {"race & sex", "race", "sex"}
    marginal = by.filter(pl.col("sex").is_null()).sort("race")
    expected = df.group_by("race").agg(pl.len().alias("n"), pl.col("pred").mean().alias("sr"))
    expected = expected.sort("race")
    assert marginal["count"].to_list() == expected["n"].to_list()
    np.testing.assert_allclose(marginal["selection_rate"], expected["sr"], rtol=0, atol=1e-15)
    assert len(by.filter(pl.col("race").is_not_null() & pl.col("sex").is_not_null())) == 10


def test_pandas_in_pandas_out_and_input_untouched():
    df = _random_frame().to_pandas()
    before = df.copy()
    result = evenhand.audit(df, y_true="y", y_pred="pred", sensitive="race", n_boot=0)
    import pandas as pd

    assert isinstance(result.by_group, pd.DataFrame)
    assert isinstance(result.summary(), pd.DataFrame)
    pd.testing.assert_frame_equal(df, before)


# ------------------------------------------------------------------ published results


@pytest.fixture(scope="module")
def compas(compas_csv):
    df = pl.read_csv(compas_csv, infer_schema_length=10000)
    return df.with_columns(
        pl.col("score_text").is_in(["Medium", "High"]).cast(pl.Int8).alias("high_risk")
    )


def test_propublica_published_error_rates(compas):
    assert compas.height == 7214
    result = evenhand.audit(compas, y_true="two_year_recid", y_pred="high_risk",
                            sensitive="race", n_boot=0)
    by = {r["race"]: r for r in result.by_group.iter_rows(named=True)}
    assert round(by["African-American"]["fpr"], 4) == 0.4485
    assert round(by["Caucasian"]["fpr"], 4) == 0.2345
    assert round(by["African-American"]["fnr"], 4) == 0.2799
    assert round(by["Caucasian"]["fnr"], 4) == 0.4772


def test_propublica_filtered_rows(compas):
    filtered = compas.filter(
        pl.col("days_b_screening_arrest").is_between(-30, 30)
        & (pl.col("is_recid") != -1)
        & (pl.col("c_charge_degree") != "O")
        & (pl.col("score_text") != "N/A")
    )
    assert filtered.height == 6172
    result = evenhand.audit(filtered, y_true="two_year_recid", y_pred="high_risk",
                            sensitive="race", n_boot=0)
    by = {r["race"]: r for r in result.by_group.iter_rows(named=True)}
    assert round(by["African-American"]["fpr"], 4) == 0.4234
    assert round(by["Caucasian"]["fpr"], 4) == 0.2201


def test_compas_decile_auc_is_exact(compas):
    from sklearn.metrics import roc_auc_score

    result = evenhand.audit(compas, y_true="two_year_recid", y_pred="high_risk",
                            y_score="decile_score", sensitive="race", n_boot=0)
    assert result.stats.exact_bins
    for row in result.by_group.iter_rows(named=True):
        sub = compas.filter(pl.col("race") == row["race"])
        expected = roc_auc_score(sub["two_year_recid"], sub["decile_score"])
        assert row["auc"] == pytest.approx(expected, abs=1e-12)


# ------------------------------------------------------------------ peer libraries as oracles


@pytest.mark.parametrize("weighted", [False, True])
def test_rates_equal_fairlearn_metricframe(weighted):
    from fairlearn.metrics import (
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_negative_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, precision_score

    df = _random_frame(weighted=weighted, seed=3)
    fns = {"selection_rate": selection_rate, "tpr": true_positive_rate,
           "fpr": false_positive_rate, "fnr": false_negative_rate, "tnr": true_negative_rate,
           "accuracy": accuracy_score, "ppv": precision_score, "f1": f1_score,
           "balanced_accuracy": balanced_accuracy_score}
    params = {k: {"sample_weight": df["w"].to_numpy()} for k in fns} if weighted else None
    frame = MetricFrame(metrics=fns, y_true=df["y"].to_numpy(), y_pred=df["pred"].to_numpy(),
                        sensitive_features=df["race"].to_numpy(), sample_params=params)
    result = evenhand.audit(df, y_true="y", y_pred="pred", sensitive="race",
                            weight="w" if weighted else None, n_boot=0)
    ours = result.by_group.sort("race")
    theirs = frame.by_group.sort_index()
    for name in fns:
        np.testing.assert_allclose(ours[name].to_numpy(), theirs[name].to_numpy(), rtol=0,
                                   atol=1e-12, err_msg=name)


@pytest.mark.parametrize("weighted", [False, True])
def test_named_disparities_equal_fairlearn(weighted):
    from fairlearn.metrics import (
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        equalized_odds_ratio,
    )

    df = _random_frame(weighted=weighted, seed=4)
    kwargs = dict(y_true=df["y"].to_numpy(), y_pred=df["pred"].to_numpy(),
                  sensitive_features=df["race"].to_numpy())
    if weighted:
        kwargs["sample_weight"] = df["w"].to_numpy()
    result = evenhand.audit(df, y_true="y", y_pred="pred", sensitive="race",
                            weight="w" if weighted else None, n_boot=0)
    s = {r["definition"]: r for r in result.summary().iter_rows(named=True)}
    assert s["demographic_parity"]["between_groups_difference"] == pytest.approx(
        demographic_parity_difference(**kwargs), abs=1e-12)
    assert s["disparate_impact"]["between_groups_ratio"] == pytest.approx(
        demographic_parity_ratio(**kwargs), abs=1e-12)
    assert s["equalized_odds"]["between_groups_difference"] == pytest.approx(
        equalized_odds_difference(**kwargs), abs=1e-12)
    assert s["equalized_odds"]["between_groups_ratio"] == pytest.approx(
        equalized_odds_ratio(**kwargs), abs=1e-12)


def test_named_disparities_equal_aif360():
    pd = pytest.importorskip("pandas")
    from aif360.sklearn.metrics import (
        average_odds_difference,
        disparate_impact_ratio,
        equal_opportunity_difference,
        statistical_parity_difference,
    )

    df = _random_frame(seed=5).filter(pl.col("race").is_in(["a", "b"]))
    index = pd.MultiIndex.from_arrays([df["race"].to_list()], names=["race"])
    y_true = pd.Series(df["y"].to_numpy(), index=index)
    y_pred = pd.Series(df["pred"].to_numpy(), index=index)
    args = dict(prot_attr="race", priv_group="a", pos_label=1)
    result = evenhand.audit(df, y_true="y", y_pred="pred", sensitive="race", n_boot=0)
    dis = result.disparities(reference="a").filter(pl.col("race") == "b")
    d = {r["metric"]: r for r in dis.iter_rows(named=True)}
    assert d["selection_rate"]["difference"] == pytest.approx(
        statistical_parity_difference(y_true, y_pred, **args), abs=1e-12)
    assert d["selection_rate"]["ratio"] == pytest.approx(
        disparate_impact_ratio(y_true, y_pred, **args), abs=1e-12)
    assert d["tpr"]["difference"] == pytest.approx(
        equal_opportunity_difference(y_true, y_pred, **args), abs=1e-12)
    average_odds = (d["tpr"]["difference"] + d["fpr"]["difference"]) / 2
    assert average_odds == pytest.approx(
        average_odds_difference(y_true, y_pred, **args), abs=1e-12)


def test_auc_from_histograms_matches_sklearn_for_continuous_scores():
    from sklearn.metrics import roc_auc_score

    df = _random_frame(n=20000, seed=6, weighted=True)
    result = evenhand.audit(df, y_true="y", y_score="score", threshold=0.5, sensitive="race",
                            weight="w", n_boot=0)
    assert not result.stats.exact_bins
    auc_flags = result.metrics.filter(pl.col("metric") == "auc")["flag"]
    assert all("binned" in f for f in auc_flags)
    for row in result.by_group.iter_rows(named=True):
        sub = df.filter(pl.col("race") == row["race"])
        expected = roc_auc_score(sub["y"], sub["score"], sample_weight=sub["w"])
        assert row["auc"] == pytest.approx(expected, abs=1e-3)
        brier = np.average((sub["score"] - sub["y"]) ** 2, weights=sub["w"])
        assert row["brier"] == pytest.approx(brier, rel=1e-12)


@pytest.mark.parametrize(("low", "high"), [(0.30, 0.32), (0.0, 0.02), (0.2, 0.9)])
def test_histogram_bins_follow_the_score_range(low, high):
    """Scores confined to a narrow band (a rare-event model) still get ~1,000 bins there,
    and calibration deciles of [0, 1] stay unions of bins."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(17)
    n = 20000
    score = rng.uniform(low, high, n)
    y = (rng.random(n) < (score - low) / (high - low)).astype(np.int64)
    df = pl.DataFrame({"score": score, "y": y, "g": rng.integers(0, 2, n)})
    result = evenhand.audit(df, y_true="y", y_score="score", threshold=(low + high) / 2,
                            sensitive="g", n_boot=0)
    assert 1000 <= result.stats.weight.shape[-1] <= 1011
    overall = dict(zip(result.overall["metric"], result.overall["value"], strict=True))
    assert overall["auc"] == pytest.approx(roc_auc_score(y, score), abs=2e-5)
    decile = np.minimum((score * 10).astype(int), 9)
    ece = sum(abs(y[decile == m].sum() - score[decile == m].sum()) for m in range(10)) / n
    assert overall["ece"] == pytest.approx(ece, rel=1e-9)


def test_ece_matches_definition():
    df = _random_frame(n=5000, seed=7)
    result = evenhand.audit(df, y_true="y", y_score="score", threshold=0.5, sensitive="sex",
                            n_boot=0)
    for row in result.by_group.iter_rows(named=True):
        sub = df.filter(pl.col("sex") == row["sex"])
        bins = np.minimum((sub["score"].to_numpy() * 10).astype(int), 9)
        y, s = sub["y"].to_numpy(), sub["score"].to_numpy()
        ece = sum(abs(y[bins == m].sum() - s[bins == m].sum()) for m in range(10)) / len(y)
        assert row["ece"] == pytest.approx(ece, rel=1e-9)


# ------------------------------------------------------------------ engines


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_gives_identical_numbers(engine):
    df = _random_frame(n=3000, seed=8, weighted=True)
    kwargs = dict(y_true="y", y_pred="pred", y_score="score", sensitive=["race", "sex"],
                  weight="w", seed=1, n_boot=200)
    expected = evenhand.audit(df, **kwargs).metrics
    got = evenhand.audit(to_engine(df, engine), **kwargs).metrics
    if not isinstance(got, pl.DataFrame):
        got = pl.from_pandas(got)
    key = ["by", "race", "sex", "metric"]
    got, expected = got.sort(key, nulls_last=True), expected.sort(key, nulls_last=True)
    for col in ("value", "ci_low", "ci_high"):
        np.testing.assert_allclose(got[col].to_numpy(), expected[col].to_numpy(), rtol=1e-12,
                                   atol=1e-12, err_msg=col)


@pytest.mark.spark
@pytest.mark.slow
def test_spark_local_mode_gives_identical_numbers(spark):
    df = _random_frame(n=2000, seed=9)
    kwargs = dict(y_true="y", y_pred="pred", y_score="score", sensitive=["race", "sex"],
                  seed=1, n_boot=100)
    expected = evenhand.audit(df, **kwargs).metrics.sort(["by", "race", "sex", "metric"],
                                                         nulls_last=True)
    got = evenhand.audit(to_engine(df, "spark", spark), **kwargs).metrics
    got = got.sort(["by", "race", "sex", "metric"], nulls_last=True)
    np.testing.assert_allclose(got["value"].to_numpy(), expected["value"].to_numpy(),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["ci_low"].to_numpy(), expected["ci_low"].to_numpy(),
                               rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ uncertainty in results


def test_bootstrap_is_seeded_and_contains_estimates():
    df = _random_frame(seed=10)
    kwargs = dict(y_true="y", y_pred="pred", y_score="score", sensitive="race",
                  ci_method="bootstrap", n_boot=300)
    a = evenhand.audit(df, seed=42, **kwargs).metrics
    b = evenhand.audit(df, seed=42, **kwargs).metrics
    c = evenhand.audit(df, seed=43, **kwargs).metrics
    # the engine's parallel float sums may differ in the last bit between runs; the draws
    # themselves are identical for one seed (a different seed moves the intervals)
    for col in ("value", "ci_low", "ci_high"):
        np.testing.assert_allclose(a[col], b[col], rtol=1e-12, atol=1e-15)
    assert not np.allclose(a["ci_low"].fill_nan(0), c["ci_low"].fill_nan(0), rtol=1e-6)
    finite = a.filter(pl.col("ci_low").is_not_nan() & pl.col("value").is_not_nan())
    assert (finite["ci_low"] <= finite["value"] + 1e-12).all()
    assert (finite["value"] <= finite["ci_high"] + 1e-12).all()


def test_user_metric_row_bootstrap():
    df = _random_frame(n=600, seed=11)

    def mean_abs_error(y_true, y_pred):
        return float(np.mean(np.abs(y_true - y_pred)))

    result = evenhand.audit(df, y_true="y", y_pred="pred", sensitive="sex", seed=0, n_boot=50,
                            metrics={"mae_custom": mean_abs_error})
    rows = result.metrics.filter(pl.col("metric") == "mae_custom")
    err = result.metrics.filter(pl.col("metric") == "error_rate").sort("sex")
    np.testing.assert_allclose(rows.sort("sex")["value"], err["value"], atol=1e-15)
    assert (rows["ci_method"] == "row-bootstrap").all()
    assert (rows["ci_low"] <= rows["value"]).all()


def test_regression_task_per_group_matches_sklearn():
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    rng = np.random.default_rng(12)
    n = 3000
    g = rng.choice(["x", "y", "z"], n)
    y = rng.normal(size=n) * 3
    p = y + rng.normal(size=n) * np.where(g == "z", 2.0, 1.0)
    df = pl.DataFrame({"g": g, "y": y, "p": p})
    result = evenhand.audit(df, y_true="y", y_pred="p", sensitive="g", n_boot=0)
    assert result.config["task"] == "regression"
    for row in result.by_group.iter_rows(named=True):
        sub = df.filter(pl.col("g") == row["g"])
        assert row["mae"] == pytest.approx(mean_absolute_error(sub["y"], sub["p"]), rel=1e-12)
        assert row["rmse"] == pytest.approx(np.sqrt(mean_squared_error(sub["y"], sub["p"])),
                                            rel=1e-12)
        assert row["r2"] == pytest.approx(r2_score(sub["y"], sub["p"]), rel=1e-9)
    ci = result.metrics.filter(pl.col("metric") == "mean_residual")
    assert (ci["ci_low"] < ci["value"]).all()


def test_json_schema_round_trip(tmp_path):
    import json

    df = _random_frame(n=500, seed=13)
    result = evenhand.audit(df, y_true="y", y_pred="pred", y_score="score",
                            sensitive=["race", "sex"], seed=0, n_boot=50)
    path = tmp_path / "audit.json"
    result.to_json(path)
    data = json.loads(path.read_text())
    assert data["schema"] == "evenhand.audit/1"
    assert data["rows"] == 500
    assert {r["definition"] for r in data["summary"]} >= {"demographic_parity", "calibration"}
    assert len(data["metrics"]) == result.metrics.height


# ------------------------------------------------------------------ bad input


BAD_INPUT = [
    (dict(y_true="nope", y_pred="pred", sensitive="race"), r"Column 'nope' \(given as y_true\)"),
    (dict(y_true="y", y_pred="pred", sensitive="rac"), "Did you mean"),
    (dict(y_true="y", sensitive="race"), "Pass y_pred"),
    (dict(y_true="y", y_score="score", sensitive="race"), "threshold"),
    (dict(y_true="y", y_score="score", threshold=3.0, sensitive="race"), "outside the range"),
    (dict(y_true="y", y_pred="pred", sensitive="race", reference="zzz"), "matches no group"),
    (dict(y_true="y", y_pred="pred", sensitive="race", ci_method="exact"), "ci_method"),
    (dict(y_true="y", y_pred="pred", sensitive="race", metrics=["tpr", "nope"]),
     "Unknown metric 'nope'"),
    (dict(y_true="y", y_pred="pred", sensitive="race", metrics=["auc"]), "needs y_score"),
    (dict(y_true="y", y_pred="pred", sensitive="race", ci=95), "strictly between 0 and 1"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD_INPUT)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    df = _random_frame(n=200, seed=14)
    with pytest.raises(EvenhandError, match=message):
        evenhand.audit(df, **kwargs).disparities()


def test_nan_label_is_an_error():
    df = _random_frame(n=100).with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("y")).alias("y"))
    with pytest.raises(EvenhandError, match="1 missing"):
        evenhand.audit(df, y_true="y", y_pred="pred", sensitive="race")


def test_nan_float_decision_is_an_error():
    df = _random_frame(n=100).with_columns(pl.col("pred").cast(pl.Float64))
    df = df.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(float("nan"))
                         .otherwise(pl.col("pred")).alias("pred"))
    with pytest.raises(EvenhandError, match="given as y_pred"):
        evenhand.audit(df, y_true="y", y_pred="pred", sensitive="race", task="binary")


def test_non_binary_labels_are_an_error():
    df = _random_frame(n=100).with_columns((pl.col("y") * 2).alias("y"))
    with pytest.raises(EvenhandError, match="values other than 0 and 1"):
        evenhand.audit(df, y_true="y", y_pred="pred", sensitive="race")


def test_string_labels_need_pos_label():
    df = _random_frame(n=100).with_columns(
        pl.when(pl.col("y") == 1).then(pl.lit("yes")).otherwise(pl.lit("no")).alias("y"))
    with pytest.raises(EvenhandError, match="pos_label"):
        evenhand.audit(df, y_true="y", y_pred="pred", sensitive="race")
    ok = evenhand.audit(df.with_columns(pl.col("pred").cast(pl.Utf8).replace(
        {"1": "yes", "0": "no"})), y_true="y", y_pred="pred", sensitive="race", pos_label="yes",
        n_boot=0)
    assert ok.by_group.height == 5


def test_missing_sensitive_values():
    df = _random_frame(n=200).with_columns(
        pl.when(pl.int_range(pl.len()) < 5).then(None).otherwise(pl.col("race")).alias("race"))
    with pytest.raises(EvenhandError, match="dropna=False"):
        evenhand.audit(df, y_true="y", y_pred="pred", sensitive="race")
    kept = evenhand.audit(df, y_true="y", y_pred="pred", sensitive="race", dropna=False,
                          n_boot=0)
    assert kept.by_group.filter(pl.col("race").is_null())["count"].to_list() == [5]


def test_empty_data_and_mismatched_dict():
    df = _random_frame(n=10).head(0)
    with pytest.raises(EvenhandError, match="no rows"):
        evenhand.audit(df, y_true="y", y_pred="pred", sensitive="race")
    with pytest.raises(EvenhandError, match="mismatched lengths"):
        evenhand.audit({"y": [0, 1], "pred": [0, 1, 1], "g": ["a", "b"]}, y_true="y",
                       y_pred="pred", sensitive="g")


def test_negative_weights_are_an_error():
    df = _random_frame(n=50, weighted=True).with_columns((-pl.col("w")).alias("w"))
    with pytest.raises(EvenhandError, match="negative"):
        evenhand.audit(df, y_true="y", y_pred="pred", sensitive="race", weight="w")
