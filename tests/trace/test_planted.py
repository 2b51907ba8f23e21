"""A planted label shift: only the step built to move group B's base rate moves it."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from evenhand.trace import trace_preparation


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(15)
    n = 4000
    raw = pl.DataFrame({
        "id": np.arange(2 * n),
        "group": ["A"] * n + ["B"] * n,
        "y": rng.binomial(1, 0.4, 2 * n),
        "noise": rng.uniform(size=2 * n),
    })
    b_pos = raw.filter((pl.col("group") == "B") & (pl.col("y") == 1)).get_column("id").to_numpy()
    removed = rng.choice(b_pos, size=round(0.3 * b_pos.size), replace=False)
    steps = [
        ("drop_b_positives", lambda d: d.filter(~pl.col("id").is_in(removed.tolist()))),
        ("unrelated", lambda d: d.filter(pl.col("noise") > 0.1)),
    ]
    trace = trace_preparation(raw, steps=steps, id_column="id", sensitive="group", y_true="y")
    return raw, removed, trace


def test_only_b_base_rate_moves(planted):
    raw, removed, trace = planted
    row = trace.steps.filter(pl.col("step") == "drop_b_positives").rows_by_key("group",
                                                                                named=True)
    b, a = row["B"][0], row["A"][0]
    b_raw = raw.filter(pl.col("group") == "B")
    kept = b_raw.filter(~pl.col("id").is_in(removed.tolist()))
    expected = kept["y"].mean() - b_raw["y"].mean()
    assert b["rows_dropped"] == removed.size
    assert b["base_rate_change"] == pytest.approx(expected)
    assert b["base_rate_change_high"] < 0  # the interval excludes no change
    assert b["base_rate_change_low"] <= expected <= b["base_rate_change_high"]
    assert (a["rows_dropped"], a["base_rate_change_low"], a["base_rate_change_high"]) == (0, 0, 0)
    assert b["base_rate_change_method"] == "kept vs dropped"


def test_unrelated_step_intervals_contain_zero(planted):
    _, _, trace = planted
    rows = trace.steps.filter(pl.col("step") == "unrelated")
    assert (rows["rows_dropped"] > 0).all()
    assert (rows["base_rate_change_low"] <= 0).all()
    assert (rows["base_rate_change_high"] >= 0).all()
    assert trace.tests.filter(pl.col("step") == "unrelated")["p_value"][0] > 0.05
