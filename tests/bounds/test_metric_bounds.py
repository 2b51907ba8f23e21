from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from evenhand.bounds import certify
from evenhand.bounds._metric_bounds import LABEL_METRICS, metric_intervals


def _reference_metric(name, y, p):
    """Textbook definitions from the four counts; nan on a zero denominator."""
    tp = np.sum((y == 1) & (p == 1))
    fp = np.sum((y == 0) & (p == 1))
    fn = np.sum((y == 1) & (p == 0))
    tn = np.sum((y == 0) & (p == 0))

    def div(a, b):
        return a / b if b > 0 else np.nan

    tpr, tnr = div(tp, tp + fn), div(tn, tn + fp)
    return {
        "selection_rate": div(tp + fp, len(y)),
        "tpr": tpr, "fpr": div(fp, fp + tn), "fnr": div(fn, fn + tp), "tnr": tnr,
        "ppv": div(tp, tp + fp), "npv": div(tn, tn + fn), "fdr": div(fp, tp + fp),
        "for": div(fn, tn + fn), "accuracy": div(tp + tn, len(y)),
        "error_rate": div(fp + fn, len(y)), "balanced_accuracy": (tpr + tnr) / 2,
        "f1": div(2 * tp, 2 * tp + fp + fn), "treatment_equality": div(fn, fp),
    }[name]


def _brute(y, decision, free):
    """Min and max of every metric over all 2^k decisions of the free rows."""
    idx = np.flatnonzero(free)
    values = {m: [] for m in LABEL_METRICS}
    for bits in itertools.product([0, 1], repeat=idx.size):
        p = decision.copy()
        p[idx] = bits
        for m in LABEL_METRICS:
            values[m].append(_reference_metric(m, y, p))
    out = {}
    for m, v in values.items():
        v = np.array(v, dtype=float)
        v = v[~np.isnan(v)]
        out[m] = (v.min(), v.max()) if v.size else (np.nan, np.nan)
    return out


@st.composite
def _group(draw):
    n = draw(st.integers(1, 9))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    d = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    free = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    return y, d, free


@settings(max_examples=100, deadline=None)
@given(_group())
def test_metric_intervals_equal_brute_force(group):
    y, decision, free = group
    codes = np.zeros(y.size, dtype=np.int64)
    out = metric_intervals(codes, 1, y, decision, free | (decision == 1), free | (decision == 0))
    truth = _brute(y, decision, free)
    for m in LABEL_METRICS:
        value, low, high = out[m]
        np.testing.assert_allclose([low[0], high[0]], truth[m], rtol=1e-12, err_msg=m)
        np.testing.assert_allclose(value[0], _reference_metric(m, y, decision), err_msg=m)


def test_certify_metric_bounds_equal_brute_force_over_unstable_rows():
    rng = np.random.default_rng(5)
    n = 60
    df = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n),
                       "g": rng.choice(["a", "b"], n)})
    df["y"] = (df.x + rng.normal(size=n) > 0).astype(int)
    model = LogisticRegression().fit(df[["x", "z"]], df.y)
    cert = certify(model, df, ranges={"x": 0.15}, sensitive="g", y_true="y")
    rows = cert.rows
    unstable = ~rows.decision_stable.astype(bool).to_numpy()
    assert 2 <= unstable.sum() <= 14  # keeps 2^k enumeration small and the test meaningful
    bounds = cert.metric_bounds.set_index(["group", "metric"])
    for g in ["a", "b"]:
        in_g = (df.g == g).to_numpy()
        truth = _brute(df.y.to_numpy()[in_g], rows.decision.to_numpy()[in_g], unstable[in_g])
        for m in LABEL_METRICS:
            got = bounds.loc[(g, m), ["low", "high"]].to_numpy(dtype=float)
            np.testing.assert_allclose(got, truth[m], rtol=1e-12, err_msg=f"{g} {m}")
    # differences between disjoint groups: exact from the per-group extremes
    diff = cert.disparity_bounds.query("kind == 'difference' and metric == 'fpr'").iloc[0]
    g, r = diff.group, diff.reference
    fpr = bounds.xs("fpr", level="metric")
    assert diff.low == pytest.approx(fpr.low[g] - fpr.high[r])
    assert diff.high == pytest.approx(fpr.high[g] - fpr.low[r])
    assert diff.exact


def test_selection_rate_only_without_labels():
    codes = np.array([0, 0, 1, 1])
    out = metric_intervals(codes, 2, None, np.array([1, 0, 0, 0]),
                           np.array([True, True, False, True]), np.array([True, True, True, True]))
    assert list(out) == ["selection_rate"]
    _, low, high = out["selection_rate"]
    np.testing.assert_allclose(low, [0.0, 0.0])
    np.testing.assert_allclose(high, [1.0, 0.5])


def test_zero_denominator_everywhere_is_nan():
    # one group, only negatives, no free rows: tpr undefined at every decision
    out = metric_intervals(np.zeros(3, dtype=np.int64), 1, np.zeros(3, dtype=np.int64),
                           np.zeros(3, dtype=np.int64), np.zeros(3, bool), np.ones(3, bool))
    assert np.isnan(out["tpr"][1][0])
    assert np.isnan(out["tpr"][2][0])
    assert out["fpr"][1][0] == 0.0
