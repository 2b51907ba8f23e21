from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from evenhand import EvenhandError
from evenhand.explain import DecisionExplainer, GroupConformal

ALPHA = 0.1


def _hard_group_data(n: int, seed: int) -> dict[str, np.ndarray]:
    """Two features; group "hard" (15%) has labels that the features barely predict."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    hard = rng.uniform(size=n) < 0.15
    p = 1 / (1 + np.exp(-(2.5 * x1 - 1.5 * x2)))
    y = (rng.uniform(size=n) < p).astype(int)
    noisy = hard & (rng.uniform(size=n) < 0.4)  # 40% of the hard group: a coin flip label
    y = np.where(noisy, rng.integers(0, 2, n), y)
    return {"x1": x1, "x2": x2, "group": np.where(hard, "hard", "easy"), "y": y}


def _coverage(sets: np.ndarray, y: np.ndarray) -> float:
    return float(sets[np.arange(len(y)), y].mean())


def test_marginal_undercovers_hard_group_while_mondrian_covers_every_group():
    train, cal, test = (_hard_group_data(n, s) for n, s in ((5000, 1), (30000, 2), (30000, 3)))
    model = LogisticRegression().fit(np.column_stack([train["x1"], train["x2"]]), train["y"])

    def proba(d):
        return model.predict_proba(np.column_stack([d["x1"], d["x2"]]))

    # marginal split conformal = one group for everyone
    marginal = GroupConformal(ALPHA).fit(proba(cal), cal["y"], np.zeros(len(cal["y"])))
    marginal_sets = marginal.predict(proba(test), np.zeros(len(test["y"])))
    hard = test["group"] == "hard"
    assert _coverage(marginal_sets[hard], test["y"][hard]) < 1 - ALPHA - 0.05

    # group-conditional, through the explainer
    explainer = DecisionExplainer(
        model, calibration_data=cal, y_true="y", sensitive="group", features=["x1", "x2"],
        alpha=ALPHA, seed=0,
    )
    sets = explainer.conformal_.predict(proba(test), test["group"])
    for group in ("easy", "hard"):
        mask = test["group"] == group
        cov = _coverage(sets[mask], test["y"][mask])
        assert 1 - ALPHA - 0.02 <= cov <= 1 - ALPHA + 0.05, (group, cov)
    # the hard group pays with larger sets, not with lower coverage
    assert sets[hard].sum(axis=1).mean() > sets[~hard].sum(axis=1).mean()


def test_quantiles_match_per_group_order_statistic():
    rng = np.random.default_rng(0)
    n = 997
    p1 = rng.uniform(size=n)
    proba = np.column_stack([1 - p1, p1])
    y = rng.integers(0, 2, n)
    groups = rng.choice(["a", "b", "c"], n, p=[0.6, 0.35, 0.05])
    cp = GroupConformal(alpha=0.2).fit(proba, y, groups)
    scores = 1 - proba[np.arange(n), y]
    for label, q, count in zip(cp.groups_, cp.quantiles_, cp.counts_, strict=True):
        s = np.sort(scores[groups == label])
        k = int(np.ceil(0.8 * (len(s) + 1)))
        assert count == len(s)
        assert q == s[k - 1]


def test_sets_match_crepes_mondrian_classifier():
    crepes = pytest.importorskip("crepes")
    rng = np.random.default_rng(5)
    n = 3000
    p1 = rng.uniform(size=n)
    proba = np.column_stack([1 - p1, p1])
    y = (rng.uniform(size=n) < p1).astype(int)
    groups = rng.choice([0, 1, 2], n)
    cal, test = slice(0, 2000), slice(2000, n)
    ours = GroupConformal(ALPHA).fit(proba[cal], y[cal], groups[cal]).predict(
        proba[test], groups[test])
    cc = crepes.ConformalClassifier()
    cc.fit(1 - proba[cal][np.arange(2000), y[cal]], bins=groups[cal])
    theirs = cc.predict_set(
        1 - proba[test], bins=groups[test], confidence=1 - ALPHA, smoothing=False
    )
    agree = (ours == theirs.astype(bool)).mean()
    assert agree == 1.0


def test_small_group_gets_every_label_and_says_so():
    rng = np.random.default_rng(1)
    p1 = rng.uniform(size=105)
    proba = np.column_stack([1 - p1, p1])
    groups = np.array(["big"] * 100 + ["tiny"] * 5)
    cp = GroupConformal(ALPHA).fit(proba, rng.integers(0, 2, 105), groups)
    assert np.isinf(cp.quantiles_[1])
    assert cp.predict(proba[:3], np.array(["tiny"] * 3)).all()
    assert "too few calibration rows" in cp.guarantee("tiny")
    assert "calibrated on 5 people" in cp.guarantee("tiny")


def test_regression_intervals_cover_every_group():
    rng = np.random.default_rng(4)
    n = 24000
    x = rng.normal(size=n)
    group = np.where(rng.uniform(size=n) < 0.2, "noisy", "calm")
    y = 2 * x + rng.normal(size=n) * np.where(group == "noisy", 3.0, 0.5)
    data = {"x": x, "g": group, "y": y}
    model = LinearRegression().fit(x[:4000, None], y[:4000])
    cal = {k: v[4000:14000] for k, v in data.items()}
    explainer = DecisionExplainer(model, calibration_data=cal, y_true="y", sensitive="g",
                                  features=["x"], threshold=0.0, seed=0)
    low, high = explainer.conformal_.predict(model.predict(x[14000:, None]), group[14000:])
    covered = (y[14000:] >= low) & (y[14000:] <= high)
    for g in ("noisy", "calm"):
        cov = covered[group[14000:] == g].mean()
        assert 1 - ALPHA - 0.02 <= cov <= 1 - ALPHA + 0.05, (g, cov)
    record = explainer.explain({"x": 0.5, "g": "noisy"})[0]
    assert record.prediction_set is None
    assert record.interval[0] < record.score < record.interval[1]
    assert record.group_context["this_group"]["mae"]["value"] > 1.0


def test_unseen_group_is_an_error():
    cp = GroupConformal().fit(np.full((20, 2), 0.5), np.zeros(20, int), np.array(["a"] * 20))
    with pytest.raises(EvenhandError, match=r"Group\(s\) \['zz'\] were not seen in the calib"):
        cp.predict(np.full((1, 2), 0.5), np.array(["zz"]))


@pytest.mark.parametrize("alpha", [0, 1, -0.1, "0.1"])
def test_bad_alpha(alpha):
    with pytest.raises(EvenhandError, match=r"'alpha' parameter of GroupConformal .* got"):
        GroupConformal(alpha).fit(np.full((4, 2), 0.5), np.zeros(4, int), np.zeros(4))


def test_unfitted_predict_is_an_error():
    with pytest.raises(EvenhandError, match="not fitted yet"):
        GroupConformal().predict(np.full((1, 2), 0.5), np.zeros(1))
