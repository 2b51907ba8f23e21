from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from evenhand.explain import DecisionExplainer
from evenhand.explain._attributions import sampling_shapley


def _data(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)) * [1.0, 2.0, 0.5, 3.0] + [0, 5, -1, 10]
    logit = 1.2 * x[:, 0] - 0.4 * (x[:, 1] - 5) + 0.8 * x[:, 0] * x[:, 2]
    return {
        "a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "d": x[:, 3],
        "g": rng.choice(["u", "v"], n),
        "y": (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int),
        "t": x @ [1.0, -0.5, 2.0, 0.1] + rng.normal(size=n),
    }


FEATURES = ["a", "b", "c", "d"]


def _x(d):
    return np.column_stack([d[f] for f in FEATURES])


def _explainer(model, cal, y="y", **kw):
    return DecisionExplainer(model, calibration_data=cal, y_true=y, sensitive="g",
                             features=FEATURES, seed=0, **kw)


@pytest.mark.parametrize(
    ("make", "target"),
    [
        (lambda: LogisticRegression(), "y"),
        (lambda: make_pipeline(StandardScaler(), LogisticRegression(C=0.3)), "y"),
        (lambda: LinearRegression(), "t"),
        (lambda: make_pipeline(StandardScaler(), Ridge(alpha=3.0)), "t"),
    ],
)
def test_linear_contributions_sum_exactly_to_score_minus_baseline(make, target):
    train, cal, rows = _data(800, 1), _data(500, 2), _data(40, 3)
    model = make().fit(_x(train), train[target])
    explainer = _explainer(model, cal, y=target, threshold=0.5 if target == "y" else 0.0)
    assert explainer.contribution_method_ == "linear-exact"
    records = explainer.explain(rows)
    link = model.decision_function(_x(rows)) if target == "y" else model.predict(_x(rows))
    for record, expected in zip(records, link, strict=True):
        total = sum(record.contributions.values()) + record.contribution_baseline
        assert total == pytest.approx(expected, abs=1e-10)
        assert record.contribution_scale == ("log-odds" if target == "y" else "score")
        assert record.contribution_se is None
    # the baseline is the link at the mean calibration input (the scaler is affine)
    centre = _x(cal).mean(axis=0)[None, :]
    at_centre = model.decision_function(centre) if target == "y" else model.predict(centre)
    assert records[0].contribution_baseline == pytest.approx(at_centre[0], abs=1e-10)


def test_linear_contribution_is_coefficient_times_centred_input():
    train, cal, rows = _data(500, 4), _data(300, 5), _data(3, 6)
    model = LogisticRegression().fit(_x(train), train["y"])
    record = _explainer(model, cal).explain(rows)[0]
    centre = _x(cal).mean(axis=0)
    for j, f in enumerate(FEATURES):
        assert record.contributions[f] == pytest.approx(
            model.coef_[0, j] * (rows[f][0] - centre[j]), rel=1e-12)


def test_sampling_estimate_agrees_with_exact_linear_values():
    train, cal, rows = _data(500, 7), _data(300, 8), _data(3, 9)
    model = LinearRegression().fit(_x(train), train["t"])
    background = _x(cal)[:100]
    phi, se, base = sampling_shapley(model.predict, _x(rows), background, n_permutations=400,
                                     rng=np.random.default_rng(0))
    exact = (_x(rows) - background.mean(axis=0)) * model.coef_
    # for an additive model every permutation credits the same amount: only the baseline
    # draw varies, so the estimate is within a few standard errors of the exact values
    assert np.all(np.abs(phi - exact) <= 3 * se + 1e-9)
    assert np.allclose(phi.sum(axis=1) + base, model.predict(_x(rows)), atol=1e-9)


def test_tree_shap_agrees_with_sampling_within_three_standard_errors():
    pytest.importorskip("shap")
    train, cal, rows = _data(600, 10), _data(400, 11), _data(4, 12)
    forest = RandomForestClassifier(n_estimators=15, max_depth=4, random_state=0)
    forest.fit(_x(train), train["y"])
    explainer = _explainer(forest, cal)
    assert explainer.contribution_method_ == "tree-shap"
    records = explainer.explain(rows)
    tree = np.array([list(r.contributions.values()) for r in records])
    phi, se, _ = sampling_shapley(
        lambda z: forest.predict_proba(z)[:, 1], _x(rows), explainer._background,
        n_permutations=2000, rng=np.random.default_rng(1),
    )
    assert np.all(np.abs(tree - phi) <= 3 * se), np.abs(tree - phi) / se
    # both add up: TreeSHAP exactly to f(x) - E f(background)
    score = forest.predict_proba(_x(rows))[:, 1]
    assert np.allclose(tree.sum(axis=1) + records[0].contribution_baseline, score, atol=1e-6)
    assert records[0].contribution_scale == "probability"


def test_tree_shap_regressor_adds_up():
    pytest.importorskip("shap")
    train, cal, rows = _data(400, 13), _data(300, 14), _data(3, 15)
    forest = RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0)
    forest.fit(_x(train), train["t"])
    records = _explainer(forest, cal, y="t", threshold=0.0).explain(rows)
    for r, pred in zip(records, forest.predict(_x(rows)), strict=True):
        assert sum(r.contributions.values()) + r.contribution_baseline == pytest.approx(pred)


def test_other_models_get_sampled_values_with_standard_errors():
    train, cal, rows = _data(400, 16), _data(300, 17), _data(3, 18)
    knn = KNeighborsClassifier(15).fit(_x(train), train["y"])
    explainer = _explainer(knn, cal, n_permutations=64)
    assert explainer.contribution_method_ == "sampling-shapley"
    records = explainer.explain(rows)
    for r, p in zip(records, knn.predict_proba(_x(rows))[:, 1], strict=True):
        assert set(r.contribution_se) == set(FEATURES)
        assert all(v >= 0 for v in r.contribution_se.values())
        # every sampled permutation's credits add up to f(x) - f(background row)
        assert sum(r.contributions.values()) + r.contribution_baseline == pytest.approx(p)
    again = _explainer(knn, cal, n_permutations=64).explain(rows)
    assert [r.contributions for r in again] == [r.contributions for r in records]  # seeded
    # each call starts from the seed: explaining again gives the same records
    assert [r.to_dict() for r in explainer.explain(rows)] == [r.to_dict() for r in records]
