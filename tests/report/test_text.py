"""Plain-language sentences and the trade-off identity."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import evenhand
from evenhand import EvenhandError
from evenhand.report import Wording
from evenhand.report._charts import implied_fpr, tradeoff_rows
from evenhand.report._text import (
    definition_sentence,
    format_interval,
    tradeoff_intro,
    tradeoff_paragraphs,
    verdict_sentence,
    wording_for,
)


@pytest.fixture(scope="module")
def compas(compas_csv):
    df = pl.read_csv(compas_csv, infer_schema_length=10000).with_columns(
        pl.col("score_text").is_in(["Medium", "High"]).cast(pl.Int64).alias("high_risk"))
    result = evenhand.audit(df, y_true="two_year_recid", y_pred="high_risk",
                            sensitive="race", reference="Caucasian", seed=0, n_boot=200)
    rows = result.summary().to_dicts()
    return df, result, rows


def _row(rows, definition):
    return next(r for r in rows if r["definition"] == definition)


def test_fpr_sentence_matches_the_data(compas):
    df, result, rows = compas
    words = Wording(people="defendants", outcome="reoffended", no_outcome="did not reoffend",
                    selected="labelled high risk", not_selected="labelled low risk")
    sentence = definition_sentence(result.levels[0], _row(rows, "predictive_equality"), 30,
                                   words, reference="Caucasian")
    negatives = df.filter(pl.col("two_year_recid") == 0)
    fpr = dict(negatives.group_by("race").agg(pl.col("high_risk").mean()).iter_rows())
    ratio = fpr["African-American"] / fpr["Caucasian"]
    assert sentence.startswith(
        f"Among defendants who did not reoffend, African-American defendants were labelled "
        f"high risk {ratio:.1f}× as often as Caucasian defendants "
        f"({fpr['African-American']:.0%} vs {fpr['Caucasian']:.0%}).")
    # groups resting on fewer than 30 people without the outcome are named, not compared
    n_neg = dict(negatives.group_by("race").len().iter_rows())
    for race, n in n_neg.items():
        assert (race in sentence.split("Left out")[-1]) == (n < 30)


def test_sentences_without_reference_compare_extremes(compas):
    _, result, rows = compas
    level = result.levels[0]
    sentence = definition_sentence(level, _row(rows, "demographic_parity"), 30,
                                   wording_for(result.config, None))
    m = level.index("selection_rate")
    big = level.count >= 30
    labels = np.array(level.labels())
    hi = labels[big][np.argmax(level.value[m][big])]
    lo = labels[big][np.argmin(level.value[m][big])]
    assert sentence.startswith(f"{hi} people were selected (high_risk = 1)")
    assert f"as often as {lo} people" in sentence


def test_every_definition_gets_a_sentence_and_verdict(compas):
    _, result, rows = compas
    words = wording_for(result.config, {"people": "defendants"})
    for row in rows:
        sentence = definition_sentence(result.levels[0], row, 30, words)
        assert "defendants" in sentence or "Too few" in sentence
        verdict = verdict_sentence(row, 0.95)
        assert verdict.startswith(("Met", "Not met", "Not computable"))


def test_chouldechova_identity_holds_for_each_group(compas):
    _, result, _ = compas
    rows = tradeoff_rows(result.levels[0], 30)
    for row in rows.iter_rows(named=True):
        if not 0 < row["ppv"] < 1:
            continue
        assert implied_fpr(row["base_rate"], row["ppv"], row["fnr"]) == pytest.approx(
            row["fpr"], rel=1e-12)


def test_tradeoff_text_names_both_papers(compas):
    _, result, rows = compas
    paragraphs = tradeoff_paragraphs(result.levels[0], result._overall, rows, 30,
                                     wording_for(result.config, None), "Caucasian")
    text = " ".join(paragraphs)
    assert "predictive parity (equal PPV) does not" in text
    assert "equal PPV and equal error rates cannot both be reached" in text
    for has_score in (True, False):
        intro = " ".join(tradeoff_intro(has_score))
        assert "Chouldechova 2017" in intro
        assert "Kleinberg, Mullainathan & Raghavan 2016" in intro


def test_wording_rejects_unknown_keys(compas):
    _, result, _ = compas
    with pytest.raises(EvenhandError, match=r"wording has unknown key 'person'; use any of"):
        wording_for(result.config, {"person": "x"})


def test_default_wording_uses_the_columns():
    config = {"y_true": "label", "y_pred": None, "y_score": "s", "threshold": 0.25}
    words = wording_for(config, None)
    assert words.outcome == "had label = 1"
    assert words.selected == "selected (s ≥ 0.25)"


def test_format_interval():
    assert format_interval(0.12345, 0.5) == "[0.123, 0.5]"
    assert format_interval(float("nan"), 1.0) == "—"
