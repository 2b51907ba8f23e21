from __future__ import annotations

import numpy as np
import pytest

from evenhand import EvenhandError
from evenhand.bounds._ranges import parse_ranges


def test_public_api_is_exact():
    import evenhand.bounds as module

    assert sorted(module.__all__) == ["Certificate", "certify", "flip_test"]
    assert all(callable(getattr(module, n)) for n in module.__all__)
    import evenhand

    assert evenhand.bounds is module


def test_kinds_of_range():
    cols = {"a": np.array([1, 5, 10]), "b": np.array([2.0, -4.0, np.nan]),
            "c": np.array(["u", "v", "w"], dtype=object)}
    d = parse_ranges({"a": 2, "b": "50%", "c": ["w"]}, cols, ["a", "b", "c"])
    np.testing.assert_allclose(d["a"].lo, [-1, 3, 8])
    np.testing.assert_allclose(d["a"].hi, [3, 7, 12])
    np.testing.assert_allclose(d["b"].lo[:2], [1.0, -6.0])
    np.testing.assert_allclose(d["b"].hi[:2], [3.0, -2.0])
    assert np.isnan(d["b"].lo[2])  # missing stays missing
    allowed = d["c"].allowed()
    assert [list(d["c"].values[r]) for r in allowed] == [["u", "w"], ["v", "w"], ["w"]]


def test_any_and_numeric_alternatives():
    cols = {"a": np.array([1, 5, 10])}
    d = parse_ranges({"a": "any"}, cols, ["a"])["a"]
    assert d.mask is None
    np.testing.assert_allclose(d.lo, [1, 1, 1])
    np.testing.assert_allclose(d.hi, [10, 10, 10])
    d = parse_ranges({"a": [0, 2.5]}, cols, ["a"])["a"]
    np.testing.assert_allclose(d.lo, [0, 0, 0])
    np.testing.assert_allclose(d.hi, [2.5, 5, 10])


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ([("a", 1)], "non-empty mapping"),
        ({"a": True}, "got True"),
        ({"a": float("inf")}, "got inf"),
        ({"a": "x%"}, "got 'x%'"),
        ({"a": "some"}, "got 'some'"),
        ({"a": {"delta": 1, "x": 2}}, "got {'delta': 1, 'x': 2}"),
        ({"zz": 1}, "not one of the model's features"),
    ],
)
def test_errors_name_the_feature_and_value(ranges, message):
    with pytest.raises(EvenhandError) as info:
        parse_ranges(ranges, {"a": np.array([1.0])}, ["a"])
    assert message in str(info.value)


def test_clipped_interval_keeps_the_recorded_value():
    cols = {"a": np.array([0, 1, 5, -2])}
    d = parse_ranges({"a": {"delta": 1, "min": 0}}, cols, ["a"])["a"]
    np.testing.assert_allclose(d.lo, [0, 0, 4, -2])  # -2 lies below min: it stays allowed
    np.testing.assert_allclose(d.hi, [1, 2, 6, -1])
    d = parse_ranges({"a": {"delta": "50%", "max": 6}}, cols, ["a"])["a"]
    np.testing.assert_allclose(d.hi, [0, 1.5, 6, -1])


@pytest.mark.parametrize(
    "spec",
    [{"delta": 1, "low": 0}, {"min": 0}, {"delta": 1, "min": 3, "max": 1},
     {"delta": [1, 2]}, {"delta": 1, "min": "0"}],
)
def test_bad_clipped_ranges(spec):
    with pytest.raises(EvenhandError, match="ranges\\['a'\\]"):
        parse_ranges({"a": spec}, {"a": np.array([1.0])}, ["a"])
