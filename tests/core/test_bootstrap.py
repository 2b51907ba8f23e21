"""The count-table draws: exact multinomials, merged bins that respect calibration bins."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from evenhand._core._bootstrap import MAX_BOOT_BINS, _merge_map, _multinomial


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(0, 50), min_size=1, max_size=12),
    n=st.integers(0, 300),
    seed=st.integers(0, 2**32 - 1),
)
def test_draws_keep_totals_and_leave_empty_cells_empty(counts, n, seed):
    counts = np.array(counts, dtype=float)
    n = n if counts.sum() else 0  # a stratum without rows draws nothing
    draws = _multinomial(counts[None], np.full((7, 1), n), np.random.default_rng(seed))
    assert draws.shape == (7, 1, counts.size)
    np.testing.assert_array_equal(draws.sum(axis=-1), n)
    assert (draws >= 0).all()
    assert (draws[..., counts == 0] == 0).all()


def test_draws_have_the_multinomial_mean_and_covariance():
    counts = np.array([[5.0, 0.0, 20.0, 75.0], [1.0, 1.0, 1.0, 1.0]])
    totals = np.broadcast_to([200, 40], (40_000, 2))
    draws = _multinomial(counts, totals, np.random.default_rng(0))
    for g in range(2):
        p = counts[g] / counts[g].sum()
        n = totals[0, g]
        expected = n * (np.diag(p) - np.outer(p, p))
        np.testing.assert_allclose(draws[:, g].mean(axis=0), n * p, atol=4 * np.sqrt(n / 4e4))
        # a (co)variance entry is at most n/4; its sampling error is below √2·(n/4)/√R
        np.testing.assert_allclose(np.cov(draws[:, g].T), expected,
                                   atol=4 * np.sqrt(2) * (n / 4) / np.sqrt(len(draws)))


def test_strata_with_different_totals_per_replicate():
    counts = np.array([[1.0, 3.0], [2.0, 2.0]])
    totals = np.array([[4, 0], [10, 6]])
    draws = _multinomial(counts, totals, np.random.default_rng(1))
    np.testing.assert_array_equal(draws.sum(axis=-1), totals)


def test_merged_bins_never_cross_a_calibration_bin():
    rng = np.random.default_rng(2)
    n_bins = 1000
    calib = np.arange(n_bins) * 10 // n_bins
    mass = rng.poisson(rng.gamma(0.5, 40, n_bins)).astype(float)
    mapping = _merge_map(mass, calib)
    assert mapping.max() + 1 <= MAX_BOOT_BINS
    assert (np.diff(mapping) >= 0).all()  # consecutive bins stay together
    for merged in np.unique(mapping):
        assert np.unique(calib[mapping == merged]).size == 1
    # a calibration bin holding a share f of the rows gets at most ceil(10 f) pieces
    for m in range(10):
        share = mass[calib == m].sum() / mass.sum()
        assert np.unique(mapping[calib == m]).size <= max(1, int(np.ceil(10 * share)))


def test_few_filled_bins_are_kept_exactly():
    mass = np.zeros(1000)
    mass[[10, 250, 251, 990]] = [3, 1, 4, 1]
    mapping = _merge_map(mass, np.arange(1000) * 10 // 1000)
    assert np.unique(mapping[mass > 0]).size == 4
