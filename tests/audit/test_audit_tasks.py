"""Multiclass, ranking and user-metric (word error rate) audits against reference values."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import evenhand
from evenhand import EvenhandError


def _multiclass_frame(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], n)
    y = rng.choice(["cat", "dog", "owl"], n, p=[0.5, 0.3, 0.2])
    noise = np.where(group == "c", 0.5, 0.2)
    flip = rng.random(n) < noise
    pred = np.where(flip, rng.choice(["cat", "dog", "owl"], n), y)
    return pl.DataFrame({"g": group, "y": y, "pred": pred, "w": rng.integers(1, 4, n) * 1.0})


@pytest.mark.parametrize("weighted", [False, True])
def test_multiclass_equals_sklearn_per_group(weighted):
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    df = _multiclass_frame()
    result = evenhand.audit(df, y_true="y", y_pred="pred", sensitive="g", task="multiclass",
                            weight="w" if weighted else None, seed=0, n_boot=100)
    for row in result.by_group.iter_rows(named=True):
        sub = df.filter(pl.col("g") == row["g"])
        w = sub["w"].to_numpy() if weighted else None
        labels = ["cat", "dog", "owl"]
        p, r, f, _ = precision_recall_fscore_support(sub["y"], sub["pred"], labels=labels,
                                                     sample_weight=w, zero_division=np.nan)
        for i, label in enumerate(labels):
            assert row[f"tpr[{label}]"] == pytest.approx(r[i], abs=1e-12)
            assert row[f"ppv[{label}]"] == pytest.approx(p[i], abs=1e-12)
            assert row[f"f1[{label}]"] == pytest.approx(f[i], abs=1e-12)
        assert row["macro_f1"] == pytest.approx(np.nanmean(f), abs=1e-12)
        assert row["accuracy"] == pytest.approx(
            accuracy_score(sub["y"], sub["pred"], sample_weight=w), abs=1e-12)
    metrics = result.metrics
    macro = metrics.filter(pl.col("metric") == "macro_f1")
    assert (macro["ci_method"] == "bootstrap").all()
    assert (macro["ci_low"] <= macro["value"]).all()
    assert (macro["value"] <= macro["ci_high"]).all()
    dis = result.disparities(reference="a").filter(pl.col("metric") == "accuracy")
    assert dis.filter(pl.col("g") == "c")["difference"][0] < 0


def test_multiclass_needs_y_pred_and_summary_is_refused():
    df = _multiclass_frame(200)
    with pytest.raises(EvenhandError, match="needs y_pred"):
        evenhand.audit(df, y_true="y", y_score="w", sensitive="g", task="multiclass",
                       threshold=1.0)
    result = evenhand.audit(df, y_true="y", y_pred="pred", sensitive="g", task="multiclass",
                            n_boot=0)
    with pytest.raises(EvenhandError, match="multiclass task"):
        result.summary()


def test_ranking_exposure_hand_computed():
    # scores rank items 1..6; k = 3; exposure 1/log2(2), 1/log2(3), 1/log2(4)
    df = pl.DataFrame({
        "score": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
        "rel":   [1, 0, 1, 1, 1, 0],
        "g":     ["a", "a", "b", "b", "b", "a"],
    })
    result = evenhand.audit(df, y_true="rel", y_score="score", sensitive="g", task="ranking",
                            k=3, min_group_size=0)
    by = {r["g"]: r for r in result.by_group.iter_rows(named=True)}
    e = [1 / np.log2(2), 1 / np.log2(3), 1 / np.log2(4)]
    assert by["a"]["exposure_share"] == pytest.approx((e[0] + e[1]) / sum(e))
    assert by["b"]["exposure_share"] == pytest.approx(e[2] / sum(e))
    assert by["a"]["relevance_share"] == pytest.approx(1 / 4)
    assert by["b"]["exposure_to_relevance"] == pytest.approx((e[2] / sum(e)) / (3 / 4))
    assert by["a"]["top_k_rate"] == pytest.approx(2 / 3)
    assert by["b"]["top_k_share"] == pytest.approx(1 / 3)


def test_ranking_ties_share_rank_and_bad_k():
    df = pl.DataFrame({"score": [1.0, 1.0, 0.5, 0.2], "rel": [1, 1, 0, 0],
                       "g": ["a", "b", "a", "b"]})
    result = evenhand.audit(df, y_true="rel", y_score="score", sensitive="g", task="ranking",
                            k=1, min_group_size=0)
    shares = result.by_group.sort("g")["exposure_share"].to_list()
    assert shares == pytest.approx([0.5, 0.5])  # tie at the top: average rank 1.5 > k
    with pytest.raises(EvenhandError, match="positive integer"):
        evenhand.audit(df, y_true="rel", y_score="score", sensitive="g", task="ranking", k=0)


def test_word_error_rate_per_speaker_group_equals_jiwer():
    jiwer = pytest.importorskip("jiwer")
    references = ["the cat sat on the mat", "hello world", "good morning to you",
                  "see you tomorrow", "it is raining today", "please call me back"] * 10
    rng = np.random.default_rng(0)
    hypotheses = []
    for i, ref in enumerate(references):
        words = ref.split()
        if i % 3 == 0:  # group "x" transcripts lose a word
            words = words[:-1]
        elif rng.random() < 0.3:
            words = [*words, "uh"]
        hypotheses.append(" ".join(words))
    groups = ["x" if i % 3 == 0 else "y" for i in range(len(references))]
    data = {"reference": references, "hypothesis": hypotheses, "dialect": groups}

    def wer(reference, hypothesis):
        return jiwer.wer(list(reference), list(hypothesis))

    result = evenhand.audit(data, y_true="reference", y_pred="hypothesis", sensitive="dialect",
                            metrics={"wer": wer}, task="multiclass", n_boot=200, seed=0,
                            min_group_size=0)
    rows = result.metrics.filter(pl.col("metric") == "wer")
    for row in rows.iter_rows(named=True):
        idx = [i for i, g in enumerate(groups) if g == row["dialect"]]
        expected = jiwer.wer([references[i] for i in idx], [hypotheses[i] for i in idx])
        assert row["value"] == pytest.approx(expected, abs=1e-12)
        assert row["ci_low"] <= row["value"] <= row["ci_high"]
        assert row["ci_method"] == "row-bootstrap"
