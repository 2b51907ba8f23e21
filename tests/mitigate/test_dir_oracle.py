"""DisparateImpactRemover against aif360's (BlackBoxAuditing) implementation of Feldman et al.

How the oracle works (BlackBoxAuditing 0.1.54, ``CategoricRepairer.repair``, non-KDD mode):

* per feature, each group's *unique* values are sorted and cut into ``Q`` buckets, ``Q`` being
  the smallest number of unique values in a group; with equal-size groups of distinct values
  every bucket holds exactly one value per group, so bucket ``k`` is the k-th order statistic;
* the target of bucket ``k`` is the median of the groups' bucket values, and its
  ``get_median`` takes the value left of centre for an even count (so the target is a data
  value): the *lower* median;
* a partial repair moves a value ``round(repair_level * d)`` steps along the column's sorted
  unique values, ``d`` being the distance in steps to the target (Python's round, half to even).

evenhand takes ``np.median`` over groups (the midpoint of the two middle values for an even
count) and moves ``x -> (1 - λ) x + λ t`` without rounding. Running the oracle on ``-X``
gives minus the *upper* median, so ``(aif(X) - aif(-X)) / 2`` is the midpoint median for any
number of groups; with an odd count both medians coincide.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from aif360.algorithms.preprocessing import DisparateImpactRemover as AifDIR
from aif360.datasets import BinaryLabelDataset

from evenhand.mitigate import DisparateImpactRemover


def _aif360_repair(X: np.ndarray, groups: np.ndarray, repair_level: float) -> np.ndarray:
    """aif360's repair of every column of ``X`` by the integer group codes ``groups``."""
    # The oracle turns the group column into categories by Freedman-Diaconis binning; codes
    # 0, 1, ... stay in separate bins only while the bin width is below 1.
    q25, q75 = np.percentile(groups, [25, 75])
    assert 2 * (q75 - q25) * len(groups) ** (-1 / 3) < 1, "oracle would merge groups"
    columns = [f"x{j}" for j in range(X.shape[1])]
    frame = pd.DataFrame(X, columns=columns).assign(group=groups.astype(float), label=0.0)
    dataset = BinaryLabelDataset(
        df=frame, label_names=["label"], protected_attribute_names=["group"]
    )
    # The oracle also "repairs" the group column with random draws from the global `random`
    # stream (then discards the result); keep that stream as other tests left it.
    state = random.getstate()
    try:
        out = AifDIR(repair_level=repair_level, sensitive_attribute="group").fit_transform(
            dataset
        )
    finally:
        random.setstate(state)
    return out.features[:, [out.feature_names.index(c) for c in columns]]


def _aif360_midpoint_full_repair(X: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Full repair toward the midpoint median: mean of the oracle's lower and upper medians."""
    return (_aif360_repair(X, groups, 1.0) - _aif360_repair(-X, groups, 1.0)) / 2


def _evenhand(X: np.ndarray, groups: np.ndarray, repair_level: float) -> np.ndarray:
    return DisparateImpactRemover(repair_level=repair_level).fit_transform(
        X, sensitive_features=groups
    )


def _distinct(n_groups: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-size groups, shuffled rows, continuous values differing in location and scale."""
    rng = np.random.default_rng(seed)
    groups = rng.permutation(np.repeat(np.arange(n_groups), n))
    X = rng.normal(size=(n_groups * n, 2)) * (1 + groups[:, None]) + groups[:, None]
    return X, groups


def _equal_ties(n_groups: int, n: int, copies: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-size groups in which every value occurs exactly ``copies`` times."""
    rng = np.random.default_rng(seed)
    groups = rng.permutation(np.repeat(np.arange(n_groups), n * copies))
    X = np.empty((len(groups), 2))
    for g in range(n_groups):
        for j in range(2):
            values = rng.choice(4 * n, n, replace=False) * (1 + j * g) / (1 + 6 * j) + g
            X[groups == g, j] = rng.permutation(np.repeat(values, copies))
    return X, groups


@pytest.mark.parametrize("n_groups", [2, 3])
@pytest.mark.parametrize("ties", [False, True])
def test_no_repair_leaves_data_unchanged_like_aif360(n_groups, ties):
    X, groups = _equal_ties(n_groups, 15, 3, 0) if ties else _distinct(n_groups, 30, 0)
    ours = _evenhand(X, groups, 0.0)
    np.testing.assert_array_equal(ours, _aif360_repair(X, groups, 0.0))
    np.testing.assert_array_equal(ours, X)


@pytest.mark.parametrize("copies", [2, 3])
@pytest.mark.parametrize("n_groups", [2, 3, 4])
def test_full_repair_with_equal_ties_matches_aif360(n_groups, copies):
    # Every value occurring `copies` times in every group: aif360 buckets unique values,
    # evenhand moves a tied run to the target at its mid-rank, and both land on the median
    # of the groups' k-th distinct values.
    X, groups = _equal_ties(n_groups, 20, copies, n_groups)
    np.testing.assert_allclose(
        _evenhand(X, groups, 1.0), _aif360_midpoint_full_repair(X, groups), rtol=0, atol=1e-12
    )


def test_half_repair_on_a_unit_grid_is_aif360_unrounded():
    # Values whose pooled unique set is consecutive integers, so one step of aif360 along the
    # unique values is one unit: its partial repair is evenhand's rounded half to even.
    rng = np.random.default_rng(3)
    n, copies = 20, 2
    groups = rng.permutation(np.repeat(np.arange(3), n * copies))
    X = np.empty((len(groups), 1))
    # Groups 0 and 1 cover 0..29 between them, group 2 is a random subset of it.
    for g, values in enumerate([np.arange(n), np.arange(n) + n // 2, rng.permutation(30)[:n]]):
        X[groups == g, 0] = rng.permutation(np.repeat(values, copies))
    assert np.array_equal(np.unique(X), np.arange(X.max() + 1))

    full = _aif360_repair(X, groups, 1.0)
    ours = _evenhand(X, groups, 0.5)
    np.testing.assert_allclose(ours, X + 0.5 * (full - X), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(_aif360_repair(X, groups, 0.5), X + np.round(ours - X))
    assert np.any(ours != np.round(ours)), "the rounding relation was not exercised"


def test_frequencies_are_ignored_by_aif360_but_not_by_evenhand():
    # Same three values in every group, very different frequencies. aif360 buckets unique
    # values only, so the groups look alike and nothing moves; evenhand's quantiles weigh
    # each row, so the group means (0.375, 1.625, 1.0) move together.
    counts = [(30, 5, 5), (5, 5, 30), (5, 30, 5)]
    x = np.concatenate([np.repeat([0.0, 1.0, 2.0], c) for c in counts])[:, None]
    groups = np.repeat(np.arange(3), 40)

    np.testing.assert_array_equal(_aif360_repair(x, groups, 1.0), x)
    ours = _evenhand(x, groups, 1.0)[:, 0]
    means = lambda v: np.array([v[groups == g].mean() for g in range(3)])  # noqa: E731
    assert np.ptp(means(ours)) < np.ptp(means(x[:, 0])) / 4
    for g in range(3):  # ranks within each group are kept (ties may merge, never swap)
        order = np.argsort(x[groups == g, 0], kind="stable")
        assert np.all(np.diff(ours[groups == g][order]) >= 0)


@pytest.mark.parametrize("n_groups", [2, 3, 4])
def test_full_repair_of_distinct_values_matches_aif360(n_groups):
    X, groups = _distinct(n_groups, 30, n_groups)
    np.testing.assert_allclose(
        _evenhand(X, groups, 1.0), _aif360_midpoint_full_repair(X, groups), rtol=0, atol=1e-12
    )


def test_half_repair_of_distinct_values_matches_aif360():
    X, groups = _distinct(3, 30, 7)  # three groups: the median is a data value for both
    full = _aif360_repair(X, groups, 1.0)
    np.testing.assert_allclose(
        _evenhand(X, groups, 0.5), X + 0.5 * (full - X), rtol=0, atol=1e-12
    )


def test_full_repair_of_equal_groups_is_the_identity_like_aif360():
    X = np.tile([0.0, 1.0, 2.0, 10.0, 11.0, 15.0], 2)[:, None]
    groups = np.repeat([0, 1], 6)
    np.testing.assert_array_equal(_aif360_midpoint_full_repair(X, groups), X)
    np.testing.assert_allclose(_evenhand(X, groups, 1.0), X, rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def compas_untied(compas_csv):
    """Age and prior counts of 400 random defendants of each of the three largest races.

    Within each group a tie is broken by adding rank/400 (< 1, so the order across integers
    is kept): the oracle buckets unique values, so only untied data make it repair the
    distribution rather than the set of values (see the frequencies test).
    """
    df = pd.read_csv(compas_csv, usecols=["race", "age", "priors_count"])
    rng = np.random.default_rng(0)
    races = ["African-American", "Caucasian", "Hispanic"]
    parts = [df[df["race"] == r].sample(400, random_state=rng.integers(2**31)) for r in races]
    groups = np.repeat(np.arange(3), 400)
    X = pd.concat(parts)[["age", "priors_count"]].to_numpy(float)
    for g in range(3):
        rows = np.flatnonzero(groups == g)
        for j in range(2):
            rank = np.empty(400)
            rank[np.argsort(X[rows, j], kind="stable")] = np.arange(400)
            X[rows, j] += rank / 400
    return X, groups


def test_compas_unrepaired_matches_aif360(compas_untied):
    X, groups = compas_untied
    np.testing.assert_array_equal(_evenhand(X, groups, 0.0), _aif360_repair(X, groups, 0.0))


@pytest.mark.parametrize("repair_level", [0.5, 1.0])
def test_compas_repair_by_race_matches_aif360(compas_untied, repair_level):
    X, groups = compas_untied
    full = _aif360_repair(X, groups, 1.0)
    np.testing.assert_allclose(
        _evenhand(X, groups, repair_level),
        X + repair_level * (full - X),
        rtol=0,
        atol=1e-9,
    )
