from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from evenhand.explain import DecisionExplainer
from evenhand.explain._recourse import NO_RECOURSE, RecourseSpace, linear_recourse

FEATURES = ["income", "debt", "years", "age"]


def _population(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = {
        "income": rng.normal(50, 12, n),
        "debt": rng.gamma(2.0, 5.0, n),
        "years": rng.integers(0, 30, n),
        "age": rng.integers(18, 80, n),
        "group": rng.choice(["a", "b", "c"], n),
    }
    logit = 0.08 * (data["income"] - 50) - 0.15 * (data["debt"] - 10) + 0.05 * data["years"]
    data["y"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return data


def _x(d):
    return np.column_stack([d[f] for f in FEATURES])


TRAIN, CAL, ROWS = _population(1500, 0), _population(800, 1), _population(60, 2)
LOGISTIC = make_pipeline(StandardScaler(), LogisticRegression()).fit(_x(TRAIN), TRAIN["y"])
FOREST = RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0).fit(
    _x(TRAIN), TRAIN["y"])


def _check_records(model, records, rows, immutable, bounds, monotone, threshold):
    for i, r in enumerate(records):
        if r.recourse is None:
            assert r.recourse_note == NO_RECOURSE
            continue
        changed = {f: rows[f][i] for f in FEATURES} | r.recourse
        new_score = model.predict_proba(np.array([[changed[f] for f in FEATURES]]))[0, 1]
        assert int(new_score >= threshold) != r.decision  # re-scored: the decision flips
        assert new_score == pytest.approx(r.recourse_score)
        for f, value in r.recourse.items():
            assert f not in immutable
            assert f != "group"
            lo, hi = bounds.get(f, (CAL[f].min(), CAL[f].max()))
            assert lo <= value <= hi
            if monotone.get(f) == "increase":
                assert value >= rows[f][i]
            if monotone.get(f) == "decrease":
                assert value <= rows[f][i]
            if f in ("years", "age"):
                assert isinstance(value, int)


_constraints = st.fixed_dictionaries({
    "immutable": st.lists(st.sampled_from(FEATURES), unique=True, max_size=3),
    "income_hi": st.floats(40, 120),
    "debt_lo": st.floats(0, 15),
    "monotone": st.dictionaries(
        st.sampled_from(FEATURES), st.sampled_from(["increase", "decrease"]), max_size=2),
    "threshold": st.floats(0.2, 0.8),
})


def _recourse_property(model, method, n_rows, c):
    bounds = {"income": (0.0, c["income_hi"]), "debt": (c["debt_lo"], None)}
    explainer = DecisionExplainer(
        model, calibration_data=CAL, y_true="y", sensitive="group", features=FEATURES,
        immutable=c["immutable"], bounds=bounds, monotone=c["monotone"],
        threshold=c["threshold"], seed=0,
    )
    assert explainer.recourse_method_ == method
    rows = {k: v[:n_rows] for k, v in ROWS.items()}
    records = explainer.explain(rows)
    full_bounds = {"income": (0.0, c["income_hi"]), "debt": (c["debt_lo"], np.inf)}
    _check_records(model, records, rows, c["immutable"], full_bounds, c["monotone"],
                   c["threshold"])
    return records


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_constraints)
def test_linear_recourse_always_flips_and_respects_constraints(c):
    _recourse_property(LOGISTIC, "linear-exact", 25, c)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_constraints)
def test_search_recourse_always_flips_and_respects_constraints(c):
    _recourse_property(FOREST, "search", 6, c)


def test_the_properties_are_not_vacuous():
    free = {"immutable": [], "income_hi": 200.0, "debt_lo": 0.0, "monotone": {},
            "threshold": 0.5}
    for model, method, n in ((LOGISTIC, "linear-exact", 25), (FOREST, "search", 6)):
        records = _recourse_property(model, method, n, free)
        assert sum(r.recourse is not None for r in records) >= n // 2


def _lp_optimum(x, slopes, gap, space):
    """Oracle: min sum |d| / scale  s.t. slopes @ d >= gap, d in the box; d = u - v."""
    lo, hi = space.room(x)
    p = len(x)
    cost = np.concatenate([1 / space.scale, 1 / space.scale])
    a_ub = -np.concatenate([slopes, -slopes])[None, :]
    bounds = [(0, max(h, 0)) for h in hi] + [(0, max(-low, 0)) for low in lo]
    res = linprog(cost, A_ub=a_ub, b_ub=[-gap], bounds=bounds, method="highs")
    return (res.fun, res.x[:p] - res.x[p:]) if res.status == 0 else (None, None)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-3, 3), min_size=5, max_size=5),
    st.lists(st.floats(0.1, 5), min_size=5, max_size=5),
    st.lists(st.sampled_from([-1, 0, 1]), min_size=5, max_size=5),
    st.lists(st.booleans(), min_size=5, max_size=5),
    st.floats(0.01, 20),
)
def test_linear_programme_matches_highs(slopes, scale, direction, actionable, gap):
    x = np.zeros(5)
    space = RecourseSpace(
        actionable=np.array(actionable), lower=np.full(5, -2.0), upper=np.full(5, 3.0),
        direction=np.array(direction), scale=np.array(scale), integer=np.zeros(5, bool),
        span=np.full(5, 5.0),
    )
    delta = linear_recourse(x, np.array(slopes), gap, space)
    best, _ = _lp_optimum(x, np.array(slopes), gap, space)
    if best is None:
        assert delta is None
    else:
        assert delta is not None
        assert np.dot(slopes, delta) >= gap - 1e-9
        assert space.cost(delta) == pytest.approx(best, rel=1e-7, abs=1e-9)


def test_linear_recourse_is_the_cheapest_single_move_for_a_plain_model():
    explainer = DecisionExplainer(LOGISTIC, calibration_data=CAL, y_true="y", sensitive="group",
                                  features=FEATURES, seed=0)
    denied = int(np.flatnonzero(LOGISTIC.predict_proba(_x(ROWS))[:, 1] < 0.5)[0])
    record = explainer.explain({k: v[denied : denied + 1] for k, v in ROWS.items()})[0]
    assert record.recourse_method == "linear-exact"
    assert "would change the decision" in record.recourse_note
    assert record.recourse_score >= 0.5


def test_no_recourse_when_nothing_may_move():
    explainer = DecisionExplainer(LOGISTIC, calibration_data=CAL, y_true="y", sensitive="group",
                                  features=FEATURES, immutable=FEATURES, seed=0)
    record = explainer.explain({k: v[:1] for k, v in ROWS.items()})[0]
    assert record.recourse is None
    assert record.recourse_method == "none"
    assert record.recourse_note == "No change within the allowed bounds flips this decision."


def test_linear_regression_recourse_crosses_the_threshold():
    model = LinearRegression().fit(_x(TRAIN), TRAIN["income"] * 0.0 + _x(TRAIN) @ [1, -2, 0.5, 0])
    explainer = DecisionExplainer(model, calibration_data=CAL, y_true="income", sensitive="group",
                                  features=FEATURES, immutable=["income"], threshold=30.0, seed=0)
    records = explainer.explain({k: v[:20] for k, v in ROWS.items()})
    for r, row in zip(records, _x(ROWS)[:20], strict=True):
        if r.recourse is not None:
            changed = row.copy()
            for f, v in r.recourse.items():
                changed[FEATURES.index(f)] = v
            assert int(model.predict(changed[None, :])[0] >= 30.0) != r.decision
            assert "income" not in r.recourse
