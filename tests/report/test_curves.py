"""Score curves from the audit's histograms against direct computations on the rows."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score, roc_curve
from statsmodels.stats.proportion import proportion_confint

import evenhand
from evenhand.report import _curves


def _synthetic(n: int = 4000, seed: int = 0, weights: bool = False) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2])
    shift = np.select([group == "a", group == "b"], [0.0, 0.4], 0.8)
    y = (rng.random(n) < 0.3 + 0.1 * shift).astype(int)
    score = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.2 * y - shift)))
    data = {"y": y, "score": score, "group": group}
    if weights:
        data["w"] = rng.uniform(0.2, 3.0, size=n)
    return pl.DataFrame(data)


def _hist(result, by: str = "group") -> _curves.GroupedHistogram:
    level = next(lv for lv in result.levels if lv.by == by)
    return _curves.grouped_histogram(result.stats, level)


@pytest.fixture(scope="module")
def compas_score(compas_csv):
    df = pl.read_csv(compas_csv, infer_schema_length=10000)
    result = evenhand.audit(df, y_true="two_year_recid", y_score="decile_score", threshold=5,
                            sensitive="race", seed=0, n_boot=0)
    return df, result


def test_compas_roc_matches_sklearn_per_group(compas_score):
    df, result = compas_score
    table = _curves.roc_table(_hist(result, "race"))
    for race in df["race"].unique().to_list():
        sub = df.filter(pl.col("race") == race)
        if sub["two_year_recid"].n_unique() < 2:
            continue
        fpr, tpr, _ = roc_curve(sub["two_year_recid"], sub["decile_score"],
                                drop_intermediate=False)
        mine = table.filter(pl.col("group") == race)
        ours = set(zip(mine["fpr"].round(12), mine["tpr"].round(12), strict=True))
        theirs = set(zip(np.round(fpr, 12), np.round(tpr, 12), strict=True))
        assert theirs <= ours, race
        # every point of ours is a real threshold (or the "nobody" end point)
        assert len(ours - theirs) == 0


def test_compas_discrete_scale_uses_score_values(compas_score):
    _, result = compas_score
    hist = _hist(result, "race")
    assert hist.discrete
    table = _curves.threshold_table(hist)
    assert sorted(set(table["threshold"].to_list())) == [float(v) for v in range(1, 11)]


def test_compas_calibration_matches_group_by(compas_score):
    df, result = compas_score
    table = _curves.calibration_table(_hist(result, "race"), ci=0.9)
    direct = df.group_by("race", "decile_score").agg(
        pl.len().alias("n"), pl.col("two_year_recid").sum().alias("x"))
    joined = table.join(direct, left_on=["group", "score"],
                        right_on=["race", pl.col("decile_score").cast(pl.Float64)])
    assert joined.height == table.height == direct.height
    np.testing.assert_allclose(joined["count"], joined["n"])
    np.testing.assert_allclose(joined["positive_rate"], joined["x"] / joined["n"], rtol=1e-12)
    low, high = proportion_confint(joined["x"].to_numpy(), joined["n"].to_numpy(), alpha=0.1,
                                   method="wilson")
    np.testing.assert_allclose(joined["ci_low"], low, atol=1e-9)
    np.testing.assert_allclose(joined["ci_high"], high, atol=1e-9)


@pytest.mark.parametrize("weights", [False, True])
def test_threshold_sweep_is_exact_at_bin_edges(weights):
    df = _synthetic(weights=weights)
    result = evenhand.audit(df, y_true="y", y_score="score", threshold=0.5, sensitive="group",
                            weight="w" if weights else None, seed=0, n_boot=0)
    hist = _hist(result)
    assert not hist.discrete
    table = _curves.threshold_table(hist)
    w = df["w"].to_numpy() if weights else np.ones(df.height)
    for row in table.sample(40, seed=1).iter_rows(named=True):
        sub = df.with_columns(w=w).filter(pl.col("group") == row["group"])
        s, y, ww = sub["score"].to_numpy(), sub["y"].to_numpy(), sub["w"].to_numpy()
        pick = s >= row["threshold"]
        assert row["selection_rate"] == pytest.approx(ww[pick].sum() / ww.sum(), abs=1e-12)
        assert row["tpr"] == pytest.approx(ww[pick & (y == 1)].sum() / ww[y == 1].sum(),
                                           abs=1e-12)
        assert row["fpr"] == pytest.approx(ww[pick & (y == 0)].sum() / ww[y == 0].sum(),
                                           abs=1e-12)


def test_roc_area_agrees_with_audit_auc_and_sklearn():
    df = _synthetic(n=3000, seed=3)
    result = evenhand.audit(df, y_true="y", y_score="score", threshold=0.5, sensitive="group",
                            seed=0, n_boot=0)
    hist = _curves.grouped_histogram(result.stats, result.levels[0])
    table = _curves.roc_table(hist, points=4000)  # every bin edge: the histogram's own ROC
    level = result.levels[0]
    for g, label in enumerate(level.labels()):
        mine = table.filter(pl.col("group") == label).sort("fpr", "tpr")
        area = np.trapezoid(mine["tpr"].to_numpy(), mine["fpr"].to_numpy())
        assert area == pytest.approx(level.value[level.index("auc"), g], abs=1e-9)
        sub = df.filter(pl.col("group") == label)
        # ~1,000 bins over the score range move the AUC by at most the share of tied pairs
        assert area == pytest.approx(roc_auc_score(sub["y"], sub["score"]), abs=2e-3)


def test_calibration_of_probabilities_uses_tenths():
    df = _synthetic(n=2000, seed=5)
    result = evenhand.audit(df, y_true="y", y_score="score", threshold=0.5, sensitive="group",
                            seed=0, n_boot=0)
    table = _curves.calibration_table(_hist(result))
    assert set(np.round(table["score"].to_numpy(), 10)) <= {round(0.05 + k / 10, 10)
                                                            for k in range(10)}
    sub = df.filter(pl.col("group") == "a")
    tenth = np.minimum((sub["score"].to_numpy() * 10).astype(int), 9)
    mine = table.filter(pl.col("group") == "a").sort("score")
    expected = [sub["y"].to_numpy()[tenth == k].mean() for k in range(10) if (tenth == k).any()]
    np.testing.assert_allclose(mine["positive_rate"], expected, rtol=1e-12)


def test_many_groups_keep_the_largest():
    rng = np.random.default_rng(0)
    n = 5000
    group = rng.integers(0, 12, size=n)
    group = np.where(rng.random(n) < 0.5, 0, group)
    df = pl.DataFrame({"y": rng.integers(0, 2, n), "s": rng.random(n),
                       "g": [f"g{k:02d}" for k in group]})
    result = evenhand.audit(df, y_true="y", y_score="s", threshold=0.5, sensitive="g",
                            seed=0, n_boot=0)
    hist = _curves.grouped_histogram(result.stats, result.levels[0])
    assert len(hist.labels) == _curves.MAX_CURVE_GROUPS
    counts = dict(zip(result.levels[0].labels(), result.levels[0].count, strict=True))
    smallest_kept = min(counts[k] for k in hist.labels)
    assert all(counts[k] <= smallest_kept for k in counts if k not in hist.labels)


def test_no_score_histogram_is_refused():
    df = _synthetic(n=200)
    result = evenhand.audit(df.with_columns(pred=(pl.col("score") > 0.5).cast(int)),
                            y_true="y", y_pred="pred", sensitive="group", seed=0, n_boot=0)
    with pytest.raises(ValueError, match="no score histogram"):
        _curves.grouped_histogram(result.stats, result.levels[0])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(40, 400))
def test_sweep_identities(seed, n):
    """Rates fall as the threshold rises, and selection = base·TPR + (1 − base)·FPR."""
    df = _synthetic(n=n, seed=seed)
    if df["y"].n_unique() < 2:
        return
    result = evenhand.audit(df, y_true="y", y_score="score",
                            threshold=float(df["score"].median()), sensitive="group", seed=0,
                            n_boot=0)
    level = result.levels[0]
    table = _curves.threshold_table(_curves.grouped_histogram(result.stats, level))
    for g, label in enumerate(level.labels()):
        mine = table.filter(pl.col("group") == label).sort("threshold")
        for col in ("selection_rate", "tpr", "fpr"):
            values = mine[col].drop_nans().to_numpy()
            assert np.all(np.diff(values) <= 1e-12)
        base = level.value[level.index("base_rate"), g]
        if 0 < base < 1:
            np.testing.assert_allclose(
                mine["selection_rate"], base * mine["tpr"] + (1 - base) * mine["fpr"],
                atol=1e-12)
