"""Every public function taking column names rejects data given in their place, clearly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import evenhand
from evenhand import EvenhandError, bounds, explain


@pytest.fixture(scope="module")
def df():
    rng = np.random.default_rng(0)
    n = 200
    out = pd.DataFrame({"x": rng.normal(size=n), "s": rng.integers(0, 2, n)})
    out["y"] = (out["x"] + rng.normal(size=n) > 0).astype(int)
    out["p"] = (out["x"] > 0).astype(int)
    out["g"] = np.where(out["s"] == 1, "a", "b")
    return out


@pytest.fixture(scope="module")
def model(df):
    return LogisticRegression().fit(df[["x", "s"]], df["y"])


CALLS = {
    "audit-y_true": ("y_true", lambda d, m, v: evenhand.audit(d, y_true=v, y_pred="p",
                                                               sensitive="g")),
    "audit-sensitive": ("sensitive", lambda d, m, v: evenhand.audit(d, y_true="y", y_pred="p",
                                                                    sensitive=v)),
    "data_bias-y_true": ("y_true", lambda d, m, v: evenhand.data_bias(d, y_true=v,
                                                                      sensitive="g")),
    "find_slices-features": ("features", lambda d, m, v: evenhand.find_slices(
        d, features=v, y_true="y", y_pred="p")),
    "decompose-outcome": ("outcome", lambda d, m, v: evenhand.decompose(
        d, outcome=v, group="g", factors={"f": ["x"]})),
    "allocate-benefit": ("benefit", lambda d, m, v: evenhand.allocate(
        d, benefit=v, group="g", capacity=10)),
    "certify-y_true": ("y_true", lambda d, m, v: bounds.certify(
        m, d, ranges={"x": 0.1}, sensitive="s", y_true=v)),
    "flip_test-sensitive": ("sensitive", lambda d, m, v: bounds.flip_test(m, d, sensitive=v)),
    "DecisionExplainer-sensitive": ("sensitive", lambda d, m, v: explain.DecisionExplainer(
        m, calibration_data=d, y_true="y", sensitive=v)),
}


@pytest.mark.parametrize("kind", ["numpy", "series", "list"])
@pytest.mark.parametrize("case", sorted(CALLS))
def test_data_instead_of_a_column_name_is_named(df, model, case, kind):
    argument, call = CALLS[case]
    column = {"y_true": "y", "sensitive": "s", "features": "x", "outcome": "y",
              "benefit": "x"}[argument]
    values = {"numpy": df[column].to_numpy(), "series": df[column],
              "list": df[column].tolist()}[kind]
    before = df.copy()
    with pytest.raises(EvenhandError) as info:
        call(df, model, values)
    message = str(info.value)
    assert f"'{argument}' argument" in message
    assert "Pass a column name, or" in message
    expected_type = {"numpy": "ndarray", "series": "Series", "list": "list"}[kind]
    assert f"got a {expected_type}" in message
    pd.testing.assert_frame_equal(df, before)
