"""make_services_population: shape, determinism, and the planted group differences."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from evenhand import EvenhandError
from evenhand.datasets import make_services_population
from evenhand.datasets._services import GROUPS


def test_columns_types_and_ranges():
    people = make_services_population(5000, seed=1)
    assert people.columns == ["person_id", "group", "age", "prior_stays", "income", "risk",
                              "need", "true_benefit", "benefit", "benefit_se", "cost"]
    assert people.height == 5000
    assert people["person_id"].to_list() == list(range(5000))
    assert set(people["group"].unique()) == set(GROUPS)
    assert people["risk"].is_between(0, 1).all()
    assert set(people["need"].unique()) <= {0, 1}
    assert people["benefit"].is_between(0, 1).all()
    assert (people["benefit_se"] > 0).all()
    assert (people["cost"] > 0).all()
    assert people["age"].is_between(18, 90).all()


def test_seed_makes_it_reproducible():
    a = make_services_population(300, seed=3)
    b = make_services_population(300, seed=3)
    c = make_services_population(300, seed=4)
    assert a.equals(b)
    assert not a.equals(c)


def test_planted_group_structure_is_recovered():
    people = make_services_population(200_000, seed=0)
    by = people.group_by("group").agg(
        share=pl.len() / people.height, need=pl.col("need").mean(),
        effect=(pl.col("true_benefit") / pl.col("risk")).mean(),
        noise=(pl.col("benefit") - pl.col("true_benefit")).mean(),
    ).sort("group")
    shares = np.array([v[0] for v in GROUPS.values()])
    effects = np.array([v[2] for v in GROUPS.values()])
    assert by["share"].to_numpy() == pytest.approx(shares, abs=0.005)
    assert by["effect"].to_numpy() == pytest.approx(effects, rel=1e-9)
    assert np.all(np.diff(by["need"].to_numpy()) > 0)  # need rises from A to E
    # need is drawn from risk: its mean matches the mean risk of each group
    mean_risk = people.group_by("group").agg(pl.col("risk").mean()).sort("group")["risk"]
    assert by["need"].to_numpy() == pytest.approx(mean_risk.to_numpy(), abs=0.01)


@pytest.mark.parametrize("n", [0, -5, 2.5, True, "100"])
def test_bad_n(n):
    with pytest.raises(EvenhandError, match="n must be a positive integer"):
        make_services_population(n, seed=0)
