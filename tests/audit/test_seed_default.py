"""The default seed makes results reproducible; ``seed=None`` asks for fresh randomness."""

from __future__ import annotations

import numpy as np
import polars as pl
from polars.testing import assert_frame_equal

import evenhand


def _frame(n: int = 600) -> pl.DataFrame:
    rng = np.random.default_rng(11)
    score = rng.random(n)
    return pl.DataFrame({
        "y": (rng.random(n) < score).astype(int),
        "pred": (score > 0.5).astype(int),
        "score": score,
        "g": rng.choice(["a", "b", "c"], n),
    })


def _bootstrap_audit(**kwargs) -> pl.DataFrame:
    return evenhand.audit(_frame(), y_true="y", y_pred="pred", y_score="score", sensitive="g",
                          ci_method="bootstrap", n_boot=100, **kwargs).metrics


def test_two_default_audits_give_identical_intervals():
    assert_frame_equal(_bootstrap_audit(), _bootstrap_audit())


def test_seed_none_passed_explicitly_gives_fresh_intervals():
    first, second = _bootstrap_audit(seed=None), _bootstrap_audit(seed=None)
    assert not first["ci_low"].equals(second["ci_low"], null_equal=True)


def test_two_default_slice_searches_give_identical_intervals():
    df = _frame().with_columns(err=(pl.col("y") != pl.col("pred")).cast(pl.Int64))
    run = lambda: evenhand.find_slices(df, features=["g"], loss="err", ci="bootstrap",  # noqa: E731
                                       n_boot=100, rank_by="lift")
    assert_frame_equal(run(), run())
