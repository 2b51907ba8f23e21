"""trace_preparation on ProPublica's COMPAS filter and on Adult's missing-value drop.

Every expected figure is computed independently here with pandas, statsmodels and scipy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from evenhand.trace import trace_preparation

COMPAS_STEPS = [
    ("days_b_screening_arrest", lambda d: d[d.days_b_screening_arrest.between(-30, 30)]),
    ("is_recid", lambda d: d[d.is_recid != -1]),
    ("charge_degree", lambda d: d[d.c_charge_degree != "O"]),
    ("score_text", lambda d: d[d.score_text != "N/A"]),
]


@pytest.fixture(scope="module")
def compas(compas_csv):
    df = pd.read_csv(compas_csv)
    df["y_pred"] = df.score_text.isin(["Medium", "High"]).astype(int)
    return df


@pytest.fixture(scope="module")
def compas_trace(compas):
    return trace_preparation(compas, steps=COMPAS_STEPS, id_column="id", sensitive="race",
                             y_true="two_year_recid", y_pred="y_pred", model_metrics=["fpr"])


def _fpr(d: pd.DataFrame, race: str) -> float:
    neg = d[(d.race == race) & (d.two_year_recid == 0)]
    return float(neg.y_pred.mean())


def test_compas_row_counts(compas, compas_trace):
    steps = compas_trace.steps
    per_step = steps.groupby("step", sort=False)[["rows_in", "rows_out"]].sum()
    assert per_step.rows_in.iloc[0] == 7214
    assert per_step.rows_out.iloc[-1] == 6172
    assert list(per_step.index) == [name for name, _ in COMPAS_STEPS]


def test_compas_drops_per_step_and_race(compas, compas_trace):
    steps = compas_trace.steps
    current = compas
    for name, step in COMPAS_STEPS:
        after = step(current)
        expected = current.race.value_counts() - after.race.value_counts().reindex(
            current.race.unique(), fill_value=0)
        got = steps[steps.step == name].set_index("race")
        for race, n in expected.items():
            assert got.loc[race, "rows_dropped"] == n, (name, race)
            assert got.loc[race, "rows_in"] == (current.race == race).sum()
            low, high = proportion_confint(n, (current.race == race).sum(), method="wilson")
            assert got.loc[race, "drop_share_low"] == pytest.approx(low, abs=1e-12)
            assert got.loc[race, "drop_share_high"] == pytest.approx(high, abs=1e-12)
        table = np.array([[n, (current.race == r).sum() - n] for r, n in expected.items()])
        # nothing dropped: no variation, statistic 0 and p-value 1 (scipy refuses the table)
        p = stats.chi2_contingency(table, correction=False).pvalue if table[:, 0].sum() else 1.0
        test = compas_trace.tests[compas_trace.tests.step == name]
        assert test.p_value.iloc[0] == pytest.approx(p, rel=1e-9)
        current = after


def test_compas_fpr_before_and_after(compas, compas_trace):
    steps = compas_trace.steps.set_index(["step", "race"])
    first, last = COMPAS_STEPS[0][0], COMPAS_STEPS[-1][0]
    final = compas
    for _, step in COMPAS_STEPS:
        final = step(final)
    for race, before, after in (("African-American", 0.4485, 0.4234),
                                ("Caucasian", 0.2345, 0.2201)):
        assert steps.loc[(first, race), "fpr_before"] == pytest.approx(before, abs=5e-5)
        assert steps.loc[(first, race), "fpr_before"] == pytest.approx(_fpr(compas, race))
        assert steps.loc[(last, race), "fpr_after"] == pytest.approx(after, abs=5e-5)
        assert steps.loc[(last, race), "fpr_after"] == pytest.approx(_fpr(final, race))


def test_compas_sentence_and_json(compas_trace):
    # in the two-year file only the first filter removes rows; the others are still listed
    sentence = compas_trace.sentences[0]
    assert sentence.startswith("Step 'days_b_screening_arrest' removed 14.1% of "
                               "African-American rows [13.0%, 15.3%]")
    assert "(by race, drop shares differ (p < 0.001))" in sentence
    assert compas_trace.sentences[2] == "Step 'charge_degree' removed no rows."
    assert '"schema": "evenhand.trace.preparation/1"' in compas_trace.to_json()


ADULT_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
    "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
    "hours-per-week", "native-country", "income",
]


@pytest.fixture(scope="module")
def adult(data_dir):
    path = data_dir / "adult" / "adult.data"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    df = pd.read_csv(path, header=None, names=ADULT_COLUMNS, skipinitialspace=True)
    df = df.dropna(how="all").reset_index(drop=True)
    df["row"] = np.arange(len(df))
    return df


@pytest.mark.parametrize("column", ["race", "sex"])
def test_adult_missing_drop_by_group(adult, column):
    drop = ("drop_missing", lambda d: d[~(d == "?").any(axis=1)])
    trace = trace_preparation(adult, steps=[drop], id_column="row", sensitive=column)
    missing = (adult == "?").any(axis=1)
    got = trace.steps.set_index(column)
    table = []
    for group, rows in adult.groupby(column):
        n, x = len(rows), int(missing[rows.index].sum())
        low, high = proportion_confint(x, n, method="wilson")
        assert got.loc[group, "rows_dropped"] == x
        assert got.loc[group, "drop_share"] == pytest.approx(x / n)
        assert got.loc[group, "drop_share_low"] == pytest.approx(low, abs=1e-12)
        assert got.loc[group, "drop_share_high"] == pytest.approx(high, abs=1e-12)
        table.append([x, n - x])
    expected = stats.chi2_contingency(np.array(table), correction=False)
    test = trace.tests.iloc[0]
    assert test.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert test.p_value == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)
    assert test.df == expected.dof
