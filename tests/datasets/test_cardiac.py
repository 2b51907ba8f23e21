from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from evenhand import EvenhandError
from evenhand.datasets import make_cardiac_cohort
from evenhand.datasets._cardiac import _probability_range


def test_shape_columns_and_reproducibility() -> None:
    a = make_cardiac_cohort(2000, seed=5)
    b = make_cardiac_cohort(2000, seed=5)
    assert a.frame.equals(b.frame)
    assert not a.frame.equals(make_cardiac_cohort(2000, seed=6).frame)
    cols = {c for cols in a.factors.values() for c in cols}
    assert set(a.frame.columns) == cols | {"group", "complication"}
    assert set(a.frame["group"].unique()) == {"A", "B"}
    assert set(a.frame["complication"].unique()) <= {0, 1}
    assert a.frame["insurance"].dtype == pl.String


def test_planted_gap_is_recovered_by_the_raw_rates() -> None:
    c = make_cardiac_cohort(400_000, seed=0, effects={"care": 0.03, "unexplained": 0.0})
    assert c.gap == pytest.approx(0.02 + 0.015 + 0.03)
    rates = c.frame.group_by("group").agg(pl.col("complication").mean())
    rate = dict(rates.iter_rows())
    se = np.sqrt(0.3 * 0.7 / 160_000 + 0.25 * 0.75 / 240_000)
    assert rate["A"] - rate["B"] == pytest.approx(c.gap, abs=4 * se)


def test_probabilities_stay_within_bounds() -> None:
    lo, hi = _probability_range(0.0)
    assert 0.0 < lo < hi < 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 10}, r"'n' parameter must be an integer of at least 100; got 10"),
        ({"effects": {"genetic": 0.1}}, r"Unknown keys in 'effects': \['genetic'\]"),
        ({"effects": {"unexplained": -0.5}}, r"push complication probabilities outside"),
        ({"effects": {"care": 0.5}}, r"outside its range|negative"),
    ],
)
def test_bad_input(kwargs, message) -> None:
    args = {"n": 1000, "seed": 0, **kwargs}
    with pytest.raises(EvenhandError, match=message):
        make_cardiac_cohort(args.pop("n"), **args)


def test_docstring_examples_run() -> None:
    import doctest

    import evenhand.datasets._cardiac as mod

    assert doctest.testmod(mod).failed == 0
