from __future__ import annotations

import doctest
import json

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC

import evenhand.explain
from evenhand import EvenhandError
from evenhand.explain import DECISION_SCHEMA, DecisionExplainer, DecisionRecord

FEATURES = ["income", "debt", "region"]


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "income": rng.normal(50, 12, n),
        "debt": rng.gamma(2.0, 5.0, n),
        "region": rng.choice(["north", "south", "east"], n),
        "sex": rng.choice(["f", "m"], n),
    })
    logit = 0.08 * (df.income - 50) - 0.15 * (df.debt - 10) + 0.5 * (df.region == "north")
    df["repaid"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return df


TRAIN, CAL, ROWS = _frame(1200, 0), _frame(800, 1), _frame(12, 2)
PIPE = Pipeline([
    ("prep", ColumnTransformer([
        ("num", StandardScaler(), ["income", "debt"]),
        ("cat", OneHotEncoder(sparse_output=False), ["region"]),
    ])),
    ("clf", LogisticRegression()),
]).fit(TRAIN[FEATURES], TRAIN["repaid"])


def _explainer(model=PIPE, **kw):
    args = {"calibration_data": CAL, "y_true": "repaid", "sensitive": "sex", "seed": 0} | kw
    return DecisionExplainer(model, **args)


def test_public_api_is_exactly_all():
    assert sorted(evenhand.explain.__all__) == [
        "DECISION_SCHEMA", "DecisionExplainer", "DecisionRecord", "GroupConformal", "render_cards"]
    assert evenhand.explain.DecisionExplainer is DecisionExplainer


def test_pipeline_inputs_are_what_the_final_estimator_saw():
    explainer = _explainer()
    assert explainer.features_ == FEATURES  # from feature_names_in_
    records = explainer.explain(ROWS)
    seen = PIPE[:-1].transform(ROWS[FEATURES])
    names = list(PIPE[:-1].get_feature_names_out())
    for record, row in zip(records, seen, strict=True):
        assert list(record.inputs) == names
        assert np.allclose(list(record.inputs.values()), row)
        assert record.raw_inputs["region"] in {"north", "south", "east"}
        assert set(record.contributions) == set(names)
    # the log-odds contributions still add up exactly, over one-hot inputs
    margin = PIPE.decision_function(ROWS[FEATURES])
    for record, m in zip(records, margin, strict=True):
        assert sum(record.contributions.values()) + record.contribution_baseline == pytest.approx(
            m, abs=1e-10)
    # a scaled linear model is linear in the raw numeric features: exact recourse
    assert explainer.recourse_method_ == "linear-exact"
    for record in records:
        assert record.recourse is None or set(record.recourse) <= {"income", "debt"}


def test_pipeline_with_pandas_output_is_called_with_named_columns():
    num = ["income", "debt"]
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    pipe.set_output(transform="pandas").fit(TRAIN[num], TRAIN["repaid"])
    explainer = _explainer(model=pipe)  # a missing-names warning would fail under -W error
    record = explainer.explain(ROWS.iloc[:1])[0]
    assert explainer.contribution_method_ == "linear-exact"
    assert list(record.inputs) == num
    assert sum(record.contributions.values()) + record.contribution_baseline == pytest.approx(
        pipe.decision_function(ROWS[num].iloc[:1])[0], abs=1e-10)


def test_record_fields_and_decision():
    record = _explainer(threshold=0.4).explain(ROWS.iloc[:1])[0]
    score = PIPE.predict_proba(ROWS[FEATURES].iloc[:1])[0, 1]
    assert record.score == pytest.approx(score)
    assert record.decision == int(score >= 0.4)
    assert record.label == record.decision  # classes are 0/1
    assert record.threshold == 0.4
    assert record.coverage == pytest.approx(0.9)
    assert record.calibration_group_size == int((CAL.sex == record.group).sum())
    assert set(record.prediction_set) <= {0, 1}
    assert record.interval is None
    assert "at least 90%" in record.guarantee
    ctx = record.group_context
    assert ctx["group"] == ROWS.sex.iloc[0]
    assert 0 <= ctx["this_group"]["fpr"]["low"] <= ctx["this_group"]["fpr"]["value"] <= (
        ctx["this_group"]["fpr"]["high"])
    assert set(ctx["by_group"]) == {"f", "m"}


def test_group_context_matches_direct_counts():
    record = _explainer().explain(ROWS.iloc[:1])[0]
    g = record.group
    part = CAL[CAL.sex == g]
    pred = (PIPE.predict_proba(part[FEATURES])[:, 1] >= 0.5).astype(int)
    fpr = ((pred == 1) & (part.repaid == 0)).sum() / (part.repaid == 0).sum()
    fnr = ((pred == 0) & (part.repaid == 1)).sum() / (part.repaid == 1).sum()
    assert record.group_context["this_group"]["fpr"]["value"] == pytest.approx(fpr)
    assert record.group_context["this_group"]["fnr"]["value"] == pytest.approx(fnr)


def test_wilson_interval_matches_statsmodels():
    sm = pytest.importorskip("statsmodels.stats.proportion")
    record = _explainer().explain(ROWS.iloc[:1])[0]
    fpr = record.group_context["this_group"]["fpr"]
    low, high = sm.proportion_confint(fpr["errors"], fpr["of"], alpha=0.05, method="wilson")
    assert (fpr["low"], fpr["high"]) == pytest.approx((low, high), abs=1e-12)


def test_json_follows_the_documented_schema_and_round_trips():
    jsonschema = pytest.importorskip("jsonschema")
    records = _explainer().explain(ROWS.iloc[:4])
    for record in records:
        data = json.loads(record.to_json())
        jsonschema.validate(data, DECISION_SCHEMA)
        assert data["schema"] == "evenhand.decision/1"
        assert DecisionRecord.from_dict(data).to_dict() == data
    with pytest.raises(EvenhandError, match=r"a record with schema 'evenhand\.decision/1'"):
        DecisionRecord.from_dict({"schema": "other/2"})


def test_html_card_is_plain_language_and_escaped():
    rows = ROWS.iloc[:1].copy()
    cal = CAL.copy()
    cal["sex"] = cal["sex"].replace({"f": "<b>f</b>"})
    rows["sex"] = "<b>f</b>"
    html = _explainer(calibration_data=cal).explain(rows)[0].to_html()
    assert html.startswith("<!DOCTYPE html>")
    for phrase in ("How sure is this?", "What drove it", "What would change it",
                   "How the model errs for people like you", "What was used",
                   "With 90% confidence for people in your group"):
        assert phrase in html
    assert "<b>f</b>" not in html
    assert "&lt;b&gt;f&lt;/b&gt;" in html
    assert "<script" not in html


def test_model_id_tracks_parameters_fit_and_calibration():
    a = _explainer().model_id_
    assert a == _explainer().model_id_  # deterministic
    assert a["class"] == "sklearn.pipeline.Pipeline"
    other = clone(PIPE).fit(TRAIN[FEATURES].iloc[:600], TRAIN["repaid"].iloc[:600])
    b = _explainer(model=other).model_id_
    assert b["params_sha256"] == a["params_sha256"]  # same configuration
    assert b["fitted_sha256"] != a["fitted_sha256"]  # different fit
    c = _explainer(calibration_data=CAL.iloc[:700]).model_id_
    assert c["calibration_sha256"] != a["calibration_sha256"]
    assert c["calibration_rows"] == 700


@pytest.mark.parametrize("to", [pl.from_pandas, lambda d: {k: d[k].to_numpy() for k in d}])
def test_any_frame_library_gives_the_same_records(to):
    expected = [r.to_dict() for r in _explainer().explain(ROWS)]
    got = [r.to_dict() for r in _explainer(calibration_data=to(CAL)).explain(to(ROWS))]
    assert got == expected


def test_empty_rows_give_no_records():
    assert _explainer().explain(ROWS.iloc[:0]) == []


def test_single_row_dict_and_id_column():
    row = ROWS.iloc[0].to_dict()
    row["case"] = "A-17"
    records = _explainer().explain(row, id_column="case")
    assert len(records) == 1
    assert records[0].row_id == "A-17"


def test_two_sensitive_columns_make_intersectional_groups():
    cal = CAL.assign(age=np.where(np.arange(len(CAL)) % 2 == 0, "young", "old"))
    rows = ROWS.assign(age="young")
    record = _explainer(calibration_data=cal, sensitive=["sex", "age"]).explain(rows)[0]
    assert record.group == f"sex={rows.sex.iloc[0]}, age=young"
    assert record.sensitive == {"sex": rows.sex.iloc[0], "age": "young"}


def test_non_linear_model_without_shap_path_still_explains():
    model = GradientBoostingClassifier(n_estimators=30, random_state=0).fit(
        TRAIN[["income", "debt"]], TRAIN["repaid"])
    explainer = _explainer(model=model, n_permutations=32)
    assert explainer.recourse_method_ == "search"
    record = explainer.explain(ROWS.iloc[:2])[1]
    assert record.contribution_method in ("tree-shap", "sampling-shapley")
    assert sum(record.contributions.values()) + record.contribution_baseline == pytest.approx(
        record.score, abs=1e-6)


# -- bad input -------------------------------------------------------------------------------
def test_rows_missing_a_feature():
    with pytest.raises(EvenhandError, match=r"lack column\(s\) \['debt'\] that the model"):
        _explainer().explain(ROWS.drop(columns="debt"))


def test_rows_missing_the_sensitive_column():
    with pytest.raises(EvenhandError, match=r"lack column\(s\) \['sex'\]"):
        _explainer().explain(ROWS.drop(columns="sex"))


def test_group_unseen_at_calibration():
    rows = ROWS.assign(sex="x")
    with pytest.raises(EvenhandError, match=r"Group\(s\) \['x'\] were not seen in the calibration"):
        _explainer().explain(rows)


def test_classifier_without_predict_proba():
    svc = LinearSVC().fit(TRAIN[["income", "debt"]], TRAIN["repaid"])
    with pytest.raises(EvenhandError, match=r"LinearSVC has no predict_proba.*Calibrated"):
        _explainer(model=svc)


def test_unfitted_model():
    with pytest.raises(EvenhandError, match="LogisticRegression is not fitted"):
        _explainer(model=LogisticRegression(), features=["income", "debt"])


def test_multiclass_model():
    y = np.digitize(TRAIN.income, [45, 55])
    model = LogisticRegression().fit(TRAIN[["income", "debt"]], y)
    with pytest.raises(EvenhandError, match=r"has classes \[0, 1, 2\].*binary"):
        _explainer(model=model)


def test_outcome_values_not_in_classes():
    cal = CAL.assign(repaid=CAL.repaid.map({0: "no", 1: "yes"}))
    with pytest.raises(EvenhandError, match=r"y_true holds values \['no', 'yes'\]"):
        _explainer(calibration_data=cal)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 1.5}, r"'alpha' parameter must be a number in \(0, 1\); got 1.5"),
        ({"threshold": float("nan")}, "'threshold' parameter must be a finite number"),
        ({"immutable": ["salary"]}, r"Feature 'salary' \(given in immutable\)"),
        ({"actionable": ["region"]}, "Feature 'region' .* is not numeric"),
        ({"bounds": {"income": 5}}, r"bounds\['income'\] must be a \(low, high\) pair; got 5"),
        ({"bounds": {"income": (9, 1)}}, r"bounds\['income'\] has low > high"),
        ({"monotone": {"debt": "down"}}, r"monotone\['debt'\] must be 'increase' or 'decrease'"),
        ({"y_true": "repayed"}, "Column 'repayed' .* is not in the data"),
        ({"n_permutations": 1}, "'n_permutations' parameter must be an integer >= 2; got 1"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(EvenhandError, match=message):
        _explainer(**kwargs)


def test_regression_outcome_with_missing_values():
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(TRAIN[["income"]], TRAIN["debt"])
    cal = CAL.copy()
    cal.loc[cal.index[:2], "debt"] = np.nan
    with pytest.raises(EvenhandError, match="y_true has 2 missing or infinite values"):
        _explainer(model=model, calibration_data=cal, y_true="debt")


def test_missing_group_value_is_an_error():
    cal = CAL.astype({"sex": object})
    cal.loc[3, "sex"] = None
    with pytest.raises(EvenhandError, match=r"sensitive column .* has missing values"):
        _explainer(calibration_data=cal)


def test_docstring_examples_run():
    from evenhand.explain import _card, _conformal, _explainer, _record

    for module in (_card, _conformal, _explainer, _record):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0
        assert result.failed == 0


def test_card_for_a_group_too_small_for_a_finite_interval():
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(TRAIN[["income"]], TRAIN["debt"])
    cal = CAL.copy()
    cal.loc[cal.index[:3], "sex"] = "x"  # 3 rows: below the 9 needed at alpha = 0.1
    explainer = _explainer(model=model, calibration_data=cal, y_true="debt", threshold=10.0)
    record = explainer.explain(ROWS.iloc[:1].assign(sex="x"))[0]
    assert record.calibration_group_size == 3
    assert record.to_dict()["interval"] == [None, None]
    assert "no outcome can be ruled out" in record.to_html()
    assert "too few calibration rows" in record.guarantee
