from __future__ import annotations

import json

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from engines import to_engine
from evenhand import EvenhandError
from evenhand.bounds import Certificate, certify

COMPAS_FEATURES = ["age", "priors_count", "juv_fel_count", "juv_misd_count", "juv_other_count"]
COMPAS_RANGES = {"priors_count": {"delta": 1, "min": 0}, "age": 1}


@pytest.fixture(scope="module")
def compas(compas_csv):
    return pl.read_csv(compas_csv).select(*COMPAS_FEATURES, "race", "two_year_recid")


def _fit(model, df):
    return model.fit(df.select(COMPAS_FEATURES).to_pandas(), df["two_year_recid"].to_numpy())


def _verify_flips(model, df, cert):
    """Every listed flip re-scores to the other decision inside the ±1 box."""
    flips = cert.flippable
    X = df.select(COMPAS_FEATURES).to_pandas().iloc[flips["row"].to_numpy()].copy()
    for f in COMPAS_RANGES:
        new = flips[f"new_{f}"].to_numpy()
        assert (np.abs(new - flips[f].to_numpy()) <= 1 + 1e-12).all()
        assert f != "priors_count" or (new >= 0).all()
        X[f] = new
    decided = (model.predict_proba(X)[:, 1] >= 0.5).astype(int)
    assert (decided == flips["new_decision"].to_numpy()).all()
    assert (decided != flips["decision"].to_numpy()).all()


@pytest.mark.parametrize(
    "model",
    [LogisticRegression(max_iter=1000), GradientBoostingClassifier(random_state=0)],
    ids=["logistic", "gradient_boosting"],
)
def test_compas_flips_and_fpr_disparity(compas, model):
    model = _fit(model, compas)
    cert = certify(model, compas, ranges=COMPAS_RANGES, sensitive="race",
                   y_true="two_year_recid", reference="Caucasian")
    rows = cert.rows
    assert isinstance(rows, pl.DataFrame)
    assert rows.height == compas.height
    # integer inputs, thresholds between integers: both methods resolve every decision
    assert cert.n_unresolved == 0
    assert rows["exact"].all()
    n_unstable = int((~rows["decision_stable"]).sum())
    assert cert.n_flippable == n_unstable > 0
    _verify_flips(model, compas, cert)
    low, high = cert.disparity("fpr", "African-American")
    fpr = cert.metric_bounds.filter(metric="fpr").to_pandas().set_index("group")
    assert low == pytest.approx(fpr.low["African-American"] - fpr.high["Caucasian"])
    assert high == pytest.approx(fpr.high["African-American"] - fpr.low["Caucasian"])
    point = fpr.value["African-American"] - fpr.value["Caucasian"]
    assert low <= point <= high
    # the recorded decisions are one of the choices: each interval holds the value
    mb = cert.metric_bounds.drop_nulls()
    assert (mb["low"] <= mb["value"] + 1e-12).all()
    assert (mb["value"] <= mb["high"] + 1e-12).all()


def test_compas_docstring_example(compas_csv):
    import doctest

    import evenhand.bounds as module

    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, "evenhand.bounds", globs={"compas_csv": str(compas_csv)}):
        if test.name == "evenhand.bounds":
            runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
    assert runner.summarize(verbose=False).attempted >= 8


@pytest.mark.parametrize("name", ["certify", "flip_test"])
def test_function_docstring_examples(name):
    import doctest

    import evenhand.bounds as module

    test = doctest.DocTestFinder().find(getattr(module, name), name)[0]
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def _small(n=80, seed=0):
    rng = np.random.default_rng(seed)
    df = pl.DataFrame({
        "x": rng.normal(size=n), "k": rng.choice(["u", "v", "w"], n),
        "g": rng.choice(["a", "b"], n), "h": rng.choice(["m", "f"], n),
    })
    return df.with_columns(y=(pl.col("x") + rng.normal(size=n) > 0).cast(pl.Int64))


def _small_model(df):
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    pre = ColumnTransformer([("oh", OneHotEncoder(), ["k"])], remainder="passthrough")
    return make_pipeline(pre, LogisticRegression()).fit(df.select("x", "k").to_pandas(),
                                                         df["y"].to_numpy())


@pytest.mark.parametrize("engine", ["pandas", "polars", "polars_lazy", "pyarrow", "duckdb", "dict"])
def test_engines_give_the_same_certificate(engine):
    df = _small()
    model = _small_model(df)
    ref = certify(model, df, ranges={"x": 0.2, "k": ["u", "w"]}, sensitive="g", y_true="y")
    got = certify(model, to_engine(df, engine), ranges={"x": 0.2, "k": ["u", "w"]},
                  sensitive="g", y_true="y")
    rows = got.rows
    assert isinstance(rows, pd.DataFrame if engine == "pandas" else pl.DataFrame)
    rows = pl.from_pandas(rows) if engine == "pandas" else rows
    np.testing.assert_allclose(rows["score_low"], ref.rows["score_low"])
    np.testing.assert_allclose(rows["score_high"], ref.rows["score_high"])


def test_intersectional_groups_and_to_dict_is_json():
    df = _small()
    model = _small_model(df)
    cert = certify(model, df, ranges={"x": "20%"}, sensitive=["g", "h"], y_true="y")
    groups = set(cert.metric_bounds["group"].to_list())
    assert groups == {"a & f", "a & m", "b & f", "b & m"}
    payload = json.loads(json.dumps(cert.to_dict()))
    assert payload["n_flippable"] == cert.n_flippable
    assert len(payload["rows"]) == df.height
    assert payload["method"] == "linear (exact)"
    assert "Certificate(method='linear (exact)'" in repr(cert)
    assert isinstance(cert, Certificate)


def test_chart_is_altair():
    import altair as alt

    df = _small()
    cert = certify(_small_model(df), df, ranges={"x": 0.3}, sensitive="g", y_true="y")
    chart = cert.chart(metrics=["fpr", "tpr"])
    assert isinstance(chart, alt.FacetChart)
    spec = chart.to_dict()
    assert {r["metric"] for r in spec["data"]["values"]} == {"fpr", "tpr"}


def test_other_models_use_search_labelled_not_guaranteed():
    df = _small(seed=2)
    X = df.select("x").to_pandas()
    model = KNeighborsClassifier(n_neighbors=5).fit(X, df["y"].to_numpy())
    cert = certify(model, df, ranges={"x": 0.3}, sensitive="g", y_true="y", seed=1)
    assert not cert.guaranteed
    assert "not guaranteed" in cert.method
    assert not cert.metric_bounds["exact"].any()
    assert not cert.disparity_bounds["exact"].any()
    rows = cert.rows.to_pandas()
    # inner bounds are attained points of the box: the recorded score lies inside them
    assert (rows.score_low <= rows.score + 1e-12).all()
    assert (rows.score_high >= rows.score - 1e-12).all()
    # same seed, same result
    again = certify(model, df, ranges={"x": 0.3}, sensitive="g", y_true="y", seed=1)
    assert again.rows.equals(cert.rows)
    flips = cert.flippable.to_pandas()
    new = model.predict_proba(flips[["new_x"]].rename(columns={"new_x": "x"}))[:, 1]
    np.testing.assert_allclose(new, flips.new_score)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ranges": {}}, "ranges must be a non-empty mapping"),
        ({"ranges": {"q": 1}}, "ranges names 'q'"),
        ({"ranges": {"x": -1}}, "ranges['x'] got -1"),
        ({"ranges": {"x": "ten%"}}, "ranges['x'] got 'ten%'"),
        ({"ranges": {"k": 1}}, "non-numeric column"),
        ({"ranges": {"x": ["a"]}}, "list numbers only"),
        ({"ranges": {"x": 1}, "method": "exact"}, "'method' parameter of certify"),
        ({"ranges": {"x": 1}, "threshold": "0.5"}, "threshold must be a finite number"),
        ({"ranges": {"x": 1}, "search_budget": -1}, "search_budget must be"),
        ({"ranges": {"x": 1}, "reference": "zz"}, "reference='zz' is not one of the groups"),
        ({"ranges": {"x": 1}, "sensitive": "gg"}, "Column 'gg'"),
        ({"ranges": {"x": 1}, "y_true": "k"}, "must be binary"),
        ({"ranges": {"x": 1}, "method": "tree"}, "method='tree' needs"),
    ],
)
def test_bad_input_messages(kwargs, message):
    df = _small()
    model = _small_model(df)
    args = {"sensitive": "g", **kwargs}
    with pytest.raises(EvenhandError, match=None) as info:
        certify(model, df, **args)
    assert message in str(info.value)


def test_linear_method_rejects_other_models_and_unnamed_models_need_features():
    df = _small()
    knn = KNeighborsClassifier().fit(df.select("x").to_pandas(), df["y"].to_numpy())
    with pytest.raises(EvenhandError, match="method='linear' needs a linear model"):
        certify(knn, df, ranges={"x": 1}, sensitive="g", method="linear")
    bare = LogisticRegression().fit(df.select("x").to_numpy(), df["y"].to_numpy())
    with pytest.raises(EvenhandError, match="fitted without column names"):
        certify(bare, df, ranges={"x": 1}, sensitive="g")


def test_multiclass_model_is_rejected():
    df = _small()
    y = np.arange(df.height) % 3
    model = LogisticRegression().fit(df.select("x").to_pandas(), y)
    with pytest.raises(EvenhandError, match="3 classes"):
        certify(model, df, ranges={"x": 1}, sensitive="g")


def test_report_section_renders():
    from evenhand.report import render_sections

    df = _small()
    cert = certify(_small_model(df), df, ranges={"x": 0.3, "k": "any"}, sensitive="g",
                   y_true="y")
    section = cert.report_section()
    assert section["text"][0].startswith(f"With x ±0.3, k any, {cert.n_flippable} of 80")
    page = render_sections("Bounds", [section])
    assert page.startswith("<!doctype html>")
    assert "Decisions that could flip" in page
    assert "between_groups_difference" in page


def test_empty_data_is_rejected():
    df = _small().head(0)
    with pytest.raises(EvenhandError, match="data has no rows"):
        certify(_small_model(_small()), df, ranges={"x": 1}, sensitive="g")


def test_more_bad_inputs():
    df = _small()
    model = _small_model(df)
    with pytest.raises(EvenhandError, match="features must be a list of column names"):
        certify(model, df, ranges={"x": 1}, sensitive="g", features="x")
    with pytest.raises(EvenhandError, match="must be a fitted estimator"):
        certify(object(), df, ranges={"x": 1}, sensitive="g", features=["x"])
    cert = certify(model, df, ranges={"x": 1}, sensitive="g", y_true="y")
    with pytest.raises(EvenhandError, match="No difference of 'fpr' for group 'zz'"):
        cert.disparity("fpr", "zz")


def test_values_the_model_rejects_are_reported():
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    df = _small()
    pre = ColumnTransformer([("oh", OneHotEncoder(handle_unknown="error"), ["k"])],
                            remainder="passthrough")
    model = make_pipeline(pre, LogisticRegression()).fit(df.select("x", "k").to_pandas(),
                                                         df["y"].to_numpy())
    with pytest.raises(EvenhandError, match="ranges only allow values the model accepts"):
        certify(model, df, ranges={"k": ["unseen"]}, sensitive="g")
