"""evenhand.data_bias: Clarify's pre-training metrics, by hand, against smclarify, per engine."""

from __future__ import annotations

import doctest
import json
import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import evenhand
from engines import ENGINES, to_engine
from evenhand import EvenhandError
from evenhand._data_bias import _data_bias
from evenhand.cli import main


def values(result, **key) -> dict[str, float]:
    """metric -> value for the rows matching ``key`` (polars or pandas result)."""
    frame = result if isinstance(result, pl.DataFrame) else pl.from_pandas(result)
    for col, val in key.items():
        frame = frame.filter(pl.col(col) == val)
    return dict(zip(frame["metric"], frame["value"], strict=True))


def flags(result) -> dict[str, str]:
    return dict(zip(result["metric"], result["flag"], strict=True))


# ---------------------------------------------------------------- hand-computed examples

@pytest.fixture
def three_labels() -> pl.DataFrame:
    # facet a = "x": labels 0,0,1,1,1,2 ; facet d = "y": labels 0,1,1,2
    return pl.DataFrame({
        "g": ["x"] * 6 + ["y"] * 4,
        "label": [0, 0, 1, 1, 1, 2, 0, 1, 1, 2],
    })


def test_every_metric_by_hand(three_labels):
    out = evenhand.data_bias(three_labels, y_true="label", sensitive="g", facet="y",
                             positive_label=2)
    got = values(out)
    ln = math.log
    # P_a = (1/3, 1/2, 1/6), P_d = (1/4, 1/2, 1/4), M = (7/24, 1/2, 5/24)
    expected = {
        "CI": (6 - 4) / 10,
        "DPL": 1 / 6 - 1 / 4,
        "KL": (1 / 3) * ln(4 / 3) + (1 / 6) * ln(2 / 3),
        "JS": 0.5 * ((1 / 3) * ln(8 / 7) + (1 / 6) * ln(4 / 5)
                     + (1 / 4) * ln(6 / 7) + (1 / 4) * ln(6 / 5)),
        "LP": math.sqrt(2) / 12,
        "TVD": 1 / 12,
        "KS": 1 / 12,
        # non-positive rows: 3 of 8 are in d; positive rows: 1 of 2 are in d
        "DDL": 3 / 8 - 1 / 2,
    }
    assert got.keys() == expected.keys()  # no CDDL without strata
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-15), name
    row = out.row(0, named=True)
    assert (row["n_d"], row["n_a"], row["positive_d"], row["positive_a"]) == (4, 6, 1, 1)
    assert set(out["flag"]) == {""}
    assert out.columns == ["g", "metric", "value", "n_d", "n_a", "positive_d", "positive_a",
                           "flag", "by"]


def test_facet_none_reports_each_group_against_the_rest(three_labels):
    out = evenhand.data_bias(three_labels, y_true="label", sensitive="g", positive_label=2)
    x, y = values(out, g="x"), values(out, g="y")
    assert x["CI"] == pytest.approx(-y["CI"])
    assert x["DPL"] == pytest.approx(-y["DPL"])
    # symmetric measures do not depend on which side is d
    for name in ("JS", "LP", "TVD", "KS"):
        assert x[name] == pytest.approx(y[name])
    # KL is not symmetric: KL(P_y || P_x) for facet x
    assert x["KL"] == pytest.approx(
        0.25 * math.log(0.25 / (1 / 3)) + 0.25 * math.log(0.25 / (1 / 6)))


@pytest.fixture
def stratified() -> pl.DataFrame:
    rows = (
        # stratum A: d has 1 positive, 1 negative; a has 3 positive, 1 negative
        [("A", "d", 1), ("A", "d", 0)] + [("A", "a", 1)] * 3 + [("A", "a", 0)]
        # stratum B: d has 1 positive, 3 negative; a has 0 positive, 2 negative
        + [("B", "d", 1)] + [("B", "d", 0)] * 3 + [("B", "a", 0)] * 2
    )
    return pl.DataFrame(rows, schema=["s", "g", "y"], orient="row")


def test_conditional_demographic_disparity_by_hand(stratified):
    out = evenhand.data_bias(stratified, y_true="y", sensitive="g", facet="d", strata="s")
    got = values(out)
    dd_a = 1 / 2 - 1 / 4  # d's share of the negatives minus its share of the positives
    dd_b = 3 / 5 - 1 / 1
    assert got["CDDL"] == pytest.approx((6 * dd_a + 6 * dd_b) / 12, abs=1e-15)
    assert got["DDL"] == pytest.approx(4 / 7 - 2 / 5, abs=1e-15)  # unconditioned
    assert flags(out)["CDDL"] == ""


def test_strata_without_a_defined_disparity_are_left_out_and_flagged(stratified):
    extra = pl.DataFrame({"s": ["C", "C"], "g": ["d", "a"], "y": [0, 0]})
    data = pl.concat([stratified, extra])
    out = evenhand.data_bias(data, y_true="y", sensitive="g", facet="d", strata="s")
    assert values(out)["CDDL"] == pytest.approx((6 * 0.25 + 6 * -0.4) / 12, abs=1e-15)
    assert flags(out)["CDDL"] == "undefined_strata"
    # smclarify instead counts the undefined share of positives in C as 0 (DD_C = 1/2 - 0)
    # and keeps C's two rows in the weights: the documented departure, made explicit
    pdf = data.to_pandas()
    clarify = clarify_values(pdf, "y", pdf["g"] == "d", 1, pdf["s"])["CDDL"]
    assert clarify == pytest.approx((6 * 0.25 + 6 * -0.4 + 2 * 0.5) / 14, abs=1e-15)


def test_no_defined_stratum_gives_nan_with_flag():
    data = pl.DataFrame({"s": ["A", "A", "B", "B"], "g": ["d", "a", "d", "a"],
                         "y": [0, 0, 1, 1]})
    out = evenhand.data_bias(data, y_true="y", sensitive="g", facet="d", strata="s")
    assert math.isnan(values(out)["CDDL"])
    assert flags(out)["CDDL"] == "zero_division"


def test_one_group_only_gives_nan_with_flag_not_an_exception():
    out = evenhand.data_bias(pl.DataFrame({"g": ["x"] * 3, "y": [0, 1, 1]}),
                             y_true="y", sensitive="g")
    got, flag = values(out), flags(out)
    assert got["CI"] == -1.0
    for name in ("DPL", "KL", "JS", "LP", "TVD", "KS"):
        assert math.isnan(got[name])
        assert flag[name] == "zero_division"
    assert got["DDL"] == pytest.approx(0.0)  # d holds all rows of both labels: 1 − 1


def test_label_missing_from_facet_d_makes_kl_infinite():
    data = pl.DataFrame({"g": ["a", "a", "a", "d", "d"], "y": [0, 1, 2, 0, 1]})
    out = evenhand.data_bias(data, y_true="y", sensitive="g", facet="d")
    got = values(out)
    assert got["KL"] == math.inf
    assert flags(out)["KL"] == "infinite"
    # the zero-probability label still counts in the other distances
    assert got["TVD"] == pytest.approx(0.5 * (abs(1 / 3 - 1 / 2) * 2 + 1 / 3))
    assert got["KS"] == pytest.approx(1 / 3)
    assert math.isfinite(got["JS"])


def test_label_column_with_no_positive_row_gives_zero_dpl_and_nan_ddl():
    data = pl.DataFrame({"g": ["a", "a", "d"], "y": [0, 0, 0]})
    out = evenhand.data_bias(data, y_true="y", sensitive="g", facet="d")
    assert values(out)["DPL"] == 0.0
    assert math.isnan(values(out)["DDL"])
    assert flags(out)["DDL"] == "zero_division"


def test_positive_label_may_be_several_values():
    data = pl.DataFrame({"g": ["a", "a", "d", "d"], "y": ["Low", "High", "Medium", "Low"]})
    out = evenhand.data_bias(data, y_true="y", sensitive="g", facet="d",
                             positive_label=["Medium", "High"])
    assert values(out)["DPL"] == pytest.approx(0.0)
    assert out["positive_d"][0] == 1


# ---------------------------------------------------------------- several sensitive columns

@pytest.fixture
def random_frame() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    n = 3000
    race = rng.choice(["A", "B", "C"], n, p=[0.5, 0.3, 0.2])
    sex = rng.choice(["F", "M"], n)
    stratum = rng.choice(["s1", "s2", "s3", "s4"], n)
    p = 0.3 + 0.2 * (race == "A") + 0.1 * (sex == "M") + 0.1 * (stratum == "s1")
    y = (rng.random(n) < p).astype(np.int64)
    y3 = np.where(rng.random(n) < 0.2, 2, y)  # a three-class label
    return pl.DataFrame({"race": race, "sex": sex, "stratum": stratum, "y": y, "y3": y3})


def test_marginal_rows_equal_a_single_column_analysis(random_frame):
    both = evenhand.data_bias(random_frame, y_true="y", sensitive=["race", "sex"],
                              strata="stratum")
    assert set(both["by"]) == {"race & sex", "race", "sex"}
    alone = evenhand.data_bias(random_frame, y_true="y", sensitive="sex", strata="stratum")
    marginal = both.filter(pl.col("by") == "sex").drop("race")
    assert marginal.equals(alone)
    assert both.filter(pl.col("by") == "race")["sex"].null_count() == 9 * 3


def test_facet_as_dict_or_tuple(random_frame):
    by_dict = evenhand.data_bias(random_frame, y_true="y", sensitive=["race", "sex"],
                                 facet={"race": "B", "sex": "F"})
    by_tuple = evenhand.data_bias(random_frame, y_true="y", sensitive=["race", "sex"],
                                  facet=("B", "F"))
    assert by_dict.equals(by_tuple)
    assert by_dict["n_d"][0] == random_frame.filter(
        (pl.col("race") == "B") & (pl.col("sex") == "F")).height
    subset = evenhand.data_bias(random_frame, y_true="y", sensitive=["race", "sex"],
                                facet={"race": "B"})
    single = evenhand.data_bias(random_frame, y_true="y", sensitive="race", facet="B")
    assert subset.drop("sex").equals(single)
    assert subset["sex"].null_count() == subset.height


# ---------------------------------------------------------------- smclarify as the oracle

def clarify_values(df: pd.DataFrame, label: str, facet_mask: pd.Series, positive,
                   group: pd.Series | None, divergences: bool = True) -> dict[str, float]:
    pre = pytest.importorskip("smclarify.bias.metrics.pretraining")
    y = df[label]
    pos = y == positive
    out = {"CI": pre.CI(y, facet_mask), "DPL": pre.DPL(y, facet_mask, pos)}
    if divergences:
        out |= {"KL": pre.KL(y, facet_mask), "JS": pre.JS(y, facet_mask),
                "LP": pre.LP(y, facet_mask), "TVD": pre.TVD(y, facet_mask),
                "KS": pre.KS(y, facet_mask)}
    if group is not None:
        out["CDDL"] = pre.CDDL(y, facet_mask, pos, group)
    return out


@pytest.mark.parametrize(("label", "positive"), [("y", 1), ("y3", 2)])
def test_matches_smclarify_on_random_data(random_frame, label, positive):
    pdf = random_frame.to_pandas()
    out = evenhand.data_bias(random_frame, y_true=label, sensitive="race", strata="stratum",
                             positive_label=positive)
    for race in ("A", "B", "C"):
        expected = clarify_values(pdf, label, pdf["race"] == race, positive, pdf["stratum"])
        got = values(out, race=race)
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, abs=1e-12), (race, name)


def test_compas_race_african_american_matches_smclarify_and_direct_counts(compas_csv):
    df = pl.read_csv(compas_csv, infer_schema_length=None)
    out = evenhand.data_bias(df, y_true="two_year_recid", sensitive="race",
                             facet="African-American", strata="age_cat")
    got = values(out)
    black = df.filter(pl.col("race") == "African-American")
    rest = df.filter(pl.col("race") != "African-American")
    assert out["n_d"][0] == black.height == 3696
    assert got["CI"] == pytest.approx((rest.height - black.height) / df.height, abs=1e-15)
    assert got["DPL"] == pytest.approx(
        rest["two_year_recid"].mean() - black["two_year_recid"].mean(), abs=1e-15)
    pdf = df.to_pandas()
    expected = clarify_values(pdf, "two_year_recid", pdf["race"] == "African-American", 1,
                              pdf["age_cat"])
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-12), name
    # African-American defendants have more recorded recidivism: q_a − q_d < 0
    assert got["DPL"] < 0


@settings(max_examples=25, deadline=None)
@given(
    labels=st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from([0, 1, 2]),
                              st.sampled_from("pq")), min_size=2, max_size=60),
)
def test_property_agrees_with_smclarify_where_it_is_defined(labels):
    """Wherever smclarify's conventions coincide with ours, the numbers are equal."""
    df = pl.DataFrame(labels, schema=["g", "y", "s"], orient="row")
    if df["y"].n_unique() < 2 or 1 not in df["y"].to_list():
        return
    out = evenhand.data_bias(df, y_true="y", sensitive="g", strata="s")
    pdf = df.to_pandas()
    for group in df["g"].unique():
        mask = pdf["g"] == group
        if mask.all():
            continue
        got = values(out, g=group)
        # smclarify drops labels missing in one facet, and counts undefined strata as 0
        # (documented departures): compare only where the conventions coincide
        same_support = set(pdf.loc[mask, "y"]) == set(pdf.loc[~mask, "y"])
        strata = pdf["s"] if _all_strata_defined(df) else None
        expected = clarify_values(pdf, "y", mask, 1, strata, divergences=same_support)
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, abs=1e-12), (group, name)


def _all_strata_defined(df: pl.DataFrame) -> bool:
    per = df.group_by("s").agg((pl.col("y") == 1).any().alias("p"), (pl.col("y") != 1).any()
                               .alias("n"))
    return bool(per["p"].all() and per["n"].all())


# ---------------------------------------------------------------- engines and libraries

def test_every_engine_gives_identical_numbers(random_frame):
    reference = evenhand.data_bias(random_frame, y_true="y3", sensitive=["race", "sex"],
                                   strata="stratum", positive_label=2)
    for engine in ENGINES:
        out = evenhand.data_bias(to_engine(random_frame, engine), y_true="y3",
                                 sensitive=["race", "sex"], strata="stratum", positive_label=2)
        if engine == "pandas":
            assert isinstance(out, pd.DataFrame)
            out = pl.from_pandas(out)
        else:
            assert isinstance(out, pl.DataFrame)
        assert out.equals(reference), engine


def test_caller_data_is_not_modified(random_frame):
    pdf = random_frame.to_pandas()
    before = pdf.copy()
    evenhand.data_bias(pdf, y_true="y", sensitive=["race", "sex"], strata="stratum")
    pd.testing.assert_frame_equal(pdf, before)


def test_dropna_false_keeps_missing_sensitive_values_as_a_group():
    data = pl.DataFrame({"g": ["a", None, "b", None], "y": [1, 0, 0, 1]})
    out = evenhand.data_bias(data, y_true="y", sensitive="g", dropna=False)
    assert out.filter(pl.col("g").is_null())["n_d"][0] == 2


# ---------------------------------------------------------------- bad input

def test_missing_column_is_named():
    with pytest.raises(EvenhandError, match=r"Column 'rase' \(given as sensitive\).*'race'"):
        evenhand.data_bias(pl.DataFrame({"race": ["a"], "y": [1]}), y_true="y",
                           sensitive="rase")


@pytest.mark.parametrize("engine", ["polars", "pandas"])
def test_nan_labels_are_refused(engine):
    data = pl.DataFrame({"g": ["a", "b", "a"], "y": [1.0, float("nan"), 0.0]})
    with pytest.raises(EvenhandError, match=r"Column 'y' \(given as y_true\) has 1 missing"):
        evenhand.data_bias(to_engine(data, engine), y_true="y", sensitive="g")


def test_null_labels_are_refused():
    data = pl.DataFrame({"g": ["a", "b", "a"], "y": [1, None, 0]})
    with pytest.raises(EvenhandError, match=r"has 1 missing .* Drop or impute"):
        evenhand.data_bias(data, y_true="y", sensitive="g")


def test_missing_sensitive_values_are_refused_unless_dropna_false():
    data = pl.DataFrame({"g": ["a", None, "b"], "y": [1, 0, 0]})
    with pytest.raises(EvenhandError, match=r"given as sensitive.*dropna=False"):
        evenhand.data_bias(data, y_true="y", sensitive="g")


def test_missing_strata_values_are_refused():
    data = pl.DataFrame({"g": ["a", "b", "b"], "s": ["x", None, "x"], "y": [1, 0, 0]})
    with pytest.raises(EvenhandError, match=r"Column 's' \(given as strata\) has 1 missing"):
        evenhand.data_bias(data, y_true="y", sensitive="g", strata="s")


def test_non_binary_labels_without_the_positive_label_are_refused():
    data = pl.DataFrame({"g": ["a", "b", "a"], "y": ["low", "mid", "high"]})
    with pytest.raises(EvenhandError, match=r"positive_label=1 never occurs in column 'y'.*"
                                            r"non-binary \(3 distinct values\)"):
        evenhand.data_bias(data, y_true="y", sensitive="g")


def test_binary_string_labels_need_positive_label():
    data = pl.DataFrame({"g": ["a", "b"], "y": ["yes", "no"]})
    with pytest.raises(EvenhandError, match=r"binary: \['no', 'yes'\]\. Pass positive_label="):
        evenhand.data_bias(data, y_true="y", sensitive="g")


def test_continuous_labels_are_refused():
    data = pl.DataFrame({"g": ["a", "b"] * 1000, "y": np.linspace(0, 1, 2000)})
    with pytest.raises(EvenhandError, match=r"has 2000 distinct values.*Bin a continuous"):
        evenhand.data_bias(data, y_true="y", sensitive="g", positive_label=0.0)


def test_empty_data_is_refused():
    data = pl.DataFrame({"g": [], "y": []}, schema={"g": pl.String, "y": pl.Int64})
    with pytest.raises(EvenhandError, match="The data has no rows"):
        evenhand.data_bias(data, y_true="y", sensitive="g")


def test_absent_facet_value_lists_the_values():
    data = pl.DataFrame({"g": ["a", "b"], "y": [1, 0]})
    with pytest.raises(EvenhandError, match=r"facet='c' is not a value of \['g'\].*\['a', 'b'\]"):
        evenhand.data_bias(data, y_true="y", sensitive="g", facet="c")


def test_facet_of_the_wrong_type_gets_a_hint():
    data = pl.DataFrame({"g": [1, 2], "y": [1, 0]})
    with pytest.raises(EvenhandError, match="Did you mean 2"):
        evenhand.data_bias(data, y_true="y", sensitive="g", facet="2")


def test_scalar_facet_with_several_columns_is_refused():
    data = pl.DataFrame({"g": ["a"], "h": ["b"], "y": [1]})
    with pytest.raises(EvenhandError, match="pass 'facet' as a dict"):
        evenhand.data_bias(data, y_true="y", sensitive=["g", "h"], facet="a")
    with pytest.raises(EvenhandError, match=r"'facet' dict must map sensitive columns"):
        evenhand.data_bias(data, y_true="y", sensitive=["g", "h"], facet={"y": 1})


def test_column_in_two_roles_is_refused():
    data = pl.DataFrame({"g": ["a"], "y": [1]})
    with pytest.raises(EvenhandError, match="given as y_true and as sensitive"):
        evenhand.data_bias(data, y_true="y", sensitive=["g", "y"])
    with pytest.raises(EvenhandError, match="both sensitive and strata"):
        evenhand.data_bias(data, y_true="y", sensitive="g", strata="g")


def test_docstring_example_runs():
    result = doctest.testmod(_data_bias, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


# ---------------------------------------------------------------- CLI

@pytest.fixture
def csv_file(tmp_path, random_frame):
    path = tmp_path / "labels.csv"
    random_frame.write_csv(path)
    return path


def test_cli_prints_tables_and_writes_json(csv_file, tmp_path, capsys, random_frame):
    out_json = tmp_path / "bias.json"
    code = main(["data-bias", str(csv_file), "--y-true", "y", "--sensitive", "race,sex",
                 "--strata", "stratum", "--json", str(out_json)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "representation and positive labels" in printed
    assert "race & sex" in printed
    assert "CDDL" in printed
    payload = json.loads(out_json.read_text())
    assert payload["schema"] == "evenhand.data_bias/1"
    expected = evenhand.data_bias(random_frame, y_true="y", sensitive=["race", "sex"],
                                  strata="stratum")
    assert len(payload["metrics"]) == expected.height
    first = payload["metrics"][0]
    assert first["value"] == pytest.approx(expected["value"][0], abs=1e-12)


def test_cli_facet_values_are_typed_like_the_column(tmp_path, capsys):
    path = tmp_path / "coded.csv"
    pl.DataFrame({"sex": [0, 0, 1, 1], "grp": ["u", "v", "u", "v"], "y": [1, 0, 1, 1]}
                 ).write_csv(path)
    code = main(["data-bias", str(path), "--y-true", "y", "--sensitive", "sex",
                 "--facet", "1"])
    assert code == 0
    assert "facet d" in capsys.readouterr().out
    code = main(["data-bias", str(path), "--y-true", "y", "--sensitive", "sex,grp",
                 "--facet", "sex=1,grp=u"])
    assert code == 0


def test_cli_infinite_kl_is_noted_and_written_as_null(tmp_path, capsys):
    path = tmp_path / "inf.csv"
    pl.DataFrame({"g": ["a", "a", "a", "d", "d"], "y": [0, 1, 2, 0, 1]}).write_csv(path)
    out_json = tmp_path / "o.json"
    code = main(["data-bias", str(path), "--y-true", "y", "--sensitive", "g", "--facet", "d",
                 "--json", str(out_json)])
    assert code == 0
    assert "KL: infinite" in capsys.readouterr().out
    kl = next(r for r in json.loads(out_json.read_text())["metrics"] if r["metric"] == "KL")
    assert kl["value"] is None
    assert kl["flag"] == "infinite"


@pytest.mark.parametrize(("args", "message"), [
    (["--sensitive", "rase"], "Column 'rase' (given as sensitive) is not in the data"),
    (["--sensitive", "race", "--facet", "Z"], "facet='Z' is not a value of ['race']"),
    (["--sensitive", "race,sex", "--facet", "B"], "--facet must be col=value"),
    (["--sensitive", "race", "--positive-label", "x"], "--positive-label 'x' cannot be"),
])
def test_cli_bad_input_exits_2_with_one_line(csv_file, capsys, args, message):
    code = main(["data-bias", str(csv_file), "--y-true", "y", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.spark
@pytest.mark.slow
def test_spark_local_mode_gives_identical_numbers(spark, random_frame):
    reference = evenhand.data_bias(random_frame, y_true="y3", sensitive=["race", "sex"],
                                   strata="stratum", positive_label=2)
    out = evenhand.data_bias(to_engine(random_frame, "spark", spark), y_true="y3",
                             sensitive=["race", "sex"], strata="stratum", positive_label=2)
    assert out.equals(reference)
