from __future__ import annotations

import pandas as pd
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

from evenhand import EvenhandError
from evenhand.mitigate import BoundedGroupLoss, EqualizedOdds, chart, tradeoff


@pytest.fixture(scope="module")
def front(make_synthetic):
    X, y, a = make_synthetic(3_000, seed=8)
    return tradeoff(LogisticRegression(), X, y, sensitive_features=a,
                    constraint="demographic_parity", grid=[0.01, 0.05], n_boot=100,
                    random_state=0)


def test_tradeoff_points_and_intervals(front):
    assert isinstance(front, pl.DataFrame)
    assert front.height == 3
    assert front["model"].to_list().count("unconstrained") == 1
    for m in ("accuracy", "disparity"):
        assert (front[f"{m}_low"] <= front[m]).all()
        assert (front[m] <= front[f"{m}_high"]).all()
    # constraining reduces held-out disparity relative to the unconstrained model
    by_model = {r["eps"]: r for r in front.iter_rows(named=True)}
    assert by_model[0.01]["disparity"] < by_model[None]["disparity"]
    assert by_model[0.01]["disparity_high"] < by_model[None]["disparity_low"]


def test_pareto_flags_are_consistent(front):
    rows = front.to_dicts()
    for r in rows:
        dominated = any(
            o["accuracy"] >= r["accuracy"] and o["disparity"] <= r["disparity"]
            and (o["accuracy"] > r["accuracy"] or o["disparity"] < r["disparity"])
            for o in rows
        )
        assert r["pareto_optimal"] == (not dominated)
    assert any(r["pareto_optimal"] for r in rows)


def test_tradeoff_returns_pandas_for_pandas_and_is_seeded(make_synthetic):
    X, y, a = make_synthetic(1_500, seed=9)
    Xp = pd.DataFrame(X, columns=list("abcd"))
    kwargs = {"sensitive_features": a, "constraint": EqualizedOdds(), "grid": [0.05],
              "n_boot": 50, "random_state": 3}
    first = tradeoff(LogisticRegression(), Xp, y, **kwargs)
    assert isinstance(first, pd.DataFrame)
    pd.testing.assert_frame_equal(first, tradeoff(LogisticRegression(), Xp, y, **kwargs))


def test_chart_is_an_altair_layer(front):
    spec = chart(front).to_dict()
    assert len(spec["layer"]) == 4
    assert spec["title"].startswith("Accuracy")


def test_tradeoff_errors(make_synthetic):
    X, y, a = make_synthetic(300)
    with pytest.raises(EvenhandError, match=r"'constraint' argument .* got 'parity'"):
        tradeoff(LogisticRegression(), X, y, sensitive_features=a, constraint="parity")
    with pytest.raises(EvenhandError, match=r"got BoundedGroupLoss"):
        tradeoff(LogisticRegression(), X, y, sensitive_features=a,
                 constraint=BoundedGroupLoss())
    with pytest.raises(EvenhandError, match=r"grid must be .* got \[0\]"):
        tradeoff(LogisticRegression(), X, y, sensitive_features=a, grid=[0])
    with pytest.raises(EvenhandError, match=r"tradeoff requires the keyword argument"):
        tradeoff(LogisticRegression(), X, y, sensitive_features=None)
