"""Adverse impact (29 CFR 1607.4(D)) against hand computations."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scipy import stats

from evenhand import EvenhandError
from evenhand.compliance import adverse_impact


def _frame(counts: dict[str, tuple[int, int]]) -> pl.DataFrame:
    groups, sel = [], []
    for g, (x, n) in counts.items():
        groups += [g] * n
        sel += [1] * x + [0] * (n - x)
    return pl.DataFrame({"g": groups, "s": sel})


def _row(res, group):
    return res.table.filter(pl.col("group") == group).row(0, named=True)


def test_uniform_guidelines_qa_example():
    res = adverse_impact(_frame({"white": (80, 120), "Black": (12, 40)}), group="g", selected="s")
    assert res.reference == "white"
    row = _row(res, "Black")
    assert row["rate"] == pytest.approx(0.30)
    assert row["impact_ratio"] == pytest.approx(0.30 / (80 / 120))
    assert row["impact_ratio"] == pytest.approx(0.45)
    assert row["below_four_fifths"]
    # shortfall: 40 * 2/3 - 12 = 14.67 -> 15; 0.8 * 40 * 2/3 - 12 = 9.33 -> 10
    assert row["shortfall"] == 15
    assert row["shortfall_four_fifths"] == 10


def test_tests_and_intervals_by_hand():
    res = adverse_impact(_frame({"a": (30, 50), "b": (20, 60)}), group="g", selected="s")
    row = _row(res, "b")
    p1, p2, pooled = 20 / 60, 30 / 50, 50 / 110
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / 60 + 1 / 50))
    assert row["z"] == pytest.approx(z)
    assert row["z_pvalue"] == pytest.approx(2 * stats.norm.sf(abs(z)))
    assert row["fisher_pvalue"] == pytest.approx(stats.fisher_exact([[20, 40], [30, 20]])[1])
    zc = stats.norm.ppf(0.975)
    centre = (p1 + zc**2 / 120) / (1 + zc**2 / 60)
    half = zc * math.sqrt(p1 * (1 - p1) / 60 + zc**2 / (4 * 3600)) / (1 + zc**2 / 60)
    assert row["rate_low"] == pytest.approx(centre - half)
    se = math.sqrt(1 / 20 - 1 / 60 + 1 / 30 - 1 / 50)
    assert row["ratio_low"] == pytest.approx(p1 / p2 * math.exp(-zc * se))
    assert row["ratio_high"] == pytest.approx(p1 / p2 * math.exp(zc * se))
    assert math.isnan(_row(res, "a")["ratio_low"])


def test_exact_shortfall_is_not_rounded_up_by_float_error():
    # 0.8 * 0.75 * 40 = 24 exactly; 24 selected already reach four fifths
    res = adverse_impact(_frame({"a": (30, 40), "b": (24, 40)}), group="g", selected="s")
    row = _row(res, "b")
    assert row["shortfall_four_fifths"] == 0
    assert row["shortfall"] == 6
    assert not row["below_four_fifths"]


@pytest.mark.parametrize(
    ("counts", "verdict"),
    [
        ({"a": (80, 100), "b": (60, 100)}, "below four fifths only"),
        ({"a": (5, 10), "b": (3, 10)}, "below four fifths only"),
        ({"a": (900, 1000), "b": (850, 1000)}, "statistically significant only"),
        ({"a": (50, 100), "b": (48, 100)}, "neither"),
    ],
)
def test_verdicts(counts, verdict):
    res = adverse_impact(_frame(counts), group="g", selected="s")
    row = _row(res, "b")
    below = row["impact_ratio"] < 0.8
    xa, na = counts["a"]
    xb, nb = counts["b"]
    sig = stats.fisher_exact([[xb, nb - xb], [xa, na - xa]])[1] < 0.05
    expected = {(True, True): "both", (True, False): "below four fifths only",
                (False, True): "statistically significant only", (False, False): "neither"}
    assert row["verdict"].startswith(expected[(below, sig)])
    if (below, sig) != (True, True):
        assert row["verdict"].startswith(verdict)


def test_zero_reference_rate_flags_ratio():
    res = adverse_impact(_frame({"a": (0, 10), "b": (0, 5)}), group="g", selected="s")
    assert not res.table["ratio_defined"].any()
    assert res.table["impact_ratio"].is_nan().all()


def test_pandas_in_pandas_out_and_input_untouched():
    df = _frame({"a": (3, 5), "b": (1, 4)}).to_pandas()
    before = df.copy()
    res = adverse_impact(df, group="g", selected="s")
    assert isinstance(res.table, pd.DataFrame)
    pd.testing.assert_frame_equal(df, before)
    payload = json.loads(res.to_json())
    assert payload["reference"] == "a"
    assert [g["n"] for g in payload["groups"]] == [5, 4]


def test_bad_inputs():
    df = _frame({"a": (3, 5), "b": (1, 4)})
    with pytest.raises(EvenhandError, match="binary"):
        adverse_impact(df.with_columns(s=pl.col("s") * 2), group="g", selected="s")
    with pytest.raises(EvenhandError, match="one group"):
        adverse_impact(df.filter(pl.col("g") == "a"), group="g", selected="s")
    with pytest.raises(EvenhandError, match="given as group"):
        adverse_impact(df, group="nope", selected="s")
    with pytest.raises(EvenhandError, match="missing"):
        adverse_impact(pl.DataFrame({"g": ["a", None], "s": [1, 0]}), group="g", selected="s")
    with pytest.raises(EvenhandError, match="binary"):
        adverse_impact(pl.DataFrame({"g": ["a", "b"], "s": ["y", "n"]}), group="g", selected="s")
    assert np.isin(df["s"].to_numpy(), (0, 1)).all()
