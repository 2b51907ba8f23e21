"""NYC Local Law 144 bias audit (6 RCNY §5-301) against pandas and hand computations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import polars as pl
import pytest

from evenhand import EvenhandError
from evenhand.compliance import RACE_CATEGORIES, ll144_audit

COMPAS_RACES = {"African-American": "Black or African American", "Caucasian": "White",
                "Hispanic": "Hispanic or Latino", "Asian": "Asian",
                "Native American": "Native American or Alaska Native", "Other": None}


@pytest.fixture(scope="module")
def compas(compas_csv):
    df = pd.read_csv(compas_csv)
    df["selected"] = df["score_text"].isin(["Medium", "High"]).astype(int)
    return df


def test_compas_tables_match_pandas(compas):
    before = compas.copy()
    res = ll144_audit(compas, sex="sex", race="race", selected="selected",
                      race_map=COMPAS_RACES)
    pd.testing.assert_frame_equal(compas, before)
    known = compas[compas["race"] != "Other"].copy()
    known["cat"] = known["race"].map(COMPAS_RACES)
    rates = known.groupby("cat")["selected"].agg(["size", "mean"])
    table = res.race.set_index("category")
    assert set(table.index) == set(rates.index)
    np.testing.assert_array_equal(table.loc[rates.index, "n"], rates["size"])
    np.testing.assert_allclose(table.loc[rates.index, "rate"], rates["mean"])
    np.testing.assert_allclose(table.loc[rates.index, "impact_ratio"],
                               rates["mean"] / rates["mean"].max())
    assert res.n_unknown["race"] == int((compas["race"] == "Other").sum())
    sex_rates = compas.groupby("sex")["selected"].mean()
    np.testing.assert_allclose(res.sex.set_index("category").loc[sex_rates.index, "rate"],
                               sex_rates)
    inter = known.groupby(["sex", "cat"])["selected"].mean()
    got = res.intersectional.set_index("category")["impact_ratio"]
    for (s, c), r in inter.items():
        assert got[f"{s} {c}"] == pytest.approx(r / inter.max())


def test_exclude_small_categories(compas):
    res = ll144_audit(compas, sex="sex", race="race", selected="selected",
                      race_map=COMPAS_RACES, exclude_small=True)
    table = res.race.set_index("category")
    small = table["n"] / len(compas) < 0.02
    assert small.any()
    assert (table["excluded"] == small).all()
    assert table.loc[small, "impact_ratio"].isna().all()
    assert table.loc[small, "excluded_reason"].str.startswith("under 2%").all()
    kept = table.loc[~small, "rate"]
    np.testing.assert_allclose(table.loc[~small, "impact_ratio"], kept / kept.max())


def test_scoring_tool_median_rule_and_ties():
    df = pl.DataFrame({"sex": ["Male", "Female"] * 4, "race": ["White"] * 4 + ["Asian"] * 4,
                       "s": [1.0, 2.0, 3.0, 3.0, 3.0, 5.0, 6.0, 7.0]})
    with pytest.warns(UserWarning, match="3 individuals score exactly the median"):
        res = ll144_audit(df, sex="sex", race="race", score="s")
    assert res.median_score == 3.0
    # above 3: White none, Asian 5, 6, 7 (3 of 4)
    race = {r["category"]: r for r in res.race.iter_rows(named=True)}
    assert race["White"]["rate"] == 0.0
    assert race["Asian"]["rate"] == 0.75
    assert race["White"]["impact_ratio"] == 0.0
    # Katz with the Haldane correction for White's zero count: (0.5/4.5) / (3/4)
    z = 1.959963984540054
    se = np.sqrt(1 / 0.5 - 1 / 4.5 + 1 / 3 - 1 / 4)
    assert race["White"]["ratio_high"] == pytest.approx((0.5 / 4.5) / 0.75 * np.exp(z * se))
    assert race["White"]["rate_low"] == 0.0


def test_json_round_trip_and_unknowns():
    df = pl.DataFrame({"sex": ["Male", "Female", None, "Male"],
                       "race": ["White", "Asian", "White", None], "y": [1, 0, 1, 1]})
    res = ll144_audit(df, sex="sex", race="race", selected="y", audit_date="2026-01-01")
    payload = json.loads(res.to_json())
    assert payload["n_assessed"] == 4
    assert payload["n_unknown"] == {"sex": 1, "race": 1, "intersectional": 2}
    assert [r["n"] for r in payload["tables"]["intersectional"]] == [1, 1]


def test_bad_labels_name_the_mapping():
    df = pl.DataFrame({"sex": ["Male", "Female"], "race": ["white", "Asian"], "y": [1, 0]})
    with pytest.raises(EvenhandError, match="race_map=") as info:
        ll144_audit(df, sex="sex", race="race", selected="y")
    assert RACE_CATEGORIES[0] in str(info.value)
    with pytest.raises(EvenhandError, match="exactly one"):
        ll144_audit(df, sex="sex", race="race")
    with pytest.raises(EvenhandError, match="given as selected"):
        ll144_audit(df, sex="sex", race="race", selected="nope", race_map={"white": "White"})
    with pytest.raises(EvenhandError, match="one"):
        ll144_audit(df, sex="sex", race="race", selected="y",
                    race_map={"white": "Asian"})
