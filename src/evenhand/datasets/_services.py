"""Synthetic population for homelessness-prevention services, with known ground truth."""

from __future__ import annotations

import numpy as np
import polars as pl

from evenhand._core._errors import EvenhandError

__all__ = ["GROUPS", "make_services_population"]

# group label -> (population share, risk log-odds shift, relative effect of the service)
GROUPS = {
    "A": (0.40, -0.4, 0.45),
    "B": (0.25, 0.0, 0.40),
    "C": (0.15, 0.4, 0.35),
    "D": (0.12, 0.7, 0.30),
    "E": (0.08, 1.0, 0.25),
}


def make_services_population(n: int, *, seed: int | None = 0) -> pl.DataFrame:
    """Simulate ``n`` people assessed for homelessness-prevention services.

    Five groups (``"A"``–``"E"``, shares 40/25/15/12/8 %) differ in need (baseline risk rises
    from A to E) and in how much the service helps per unit of risk (its relative effect falls
    from A to E), so ranking by benefit, parity by group size and proportionality to need give
    visibly different allocations — the trade-offs :func:`evenhand.allocate` compares.

    Generative model (all draws from ``numpy.random.default_rng(seed)``):

    - ``age`` ~ 18 + Gamma(2, 10) (clipped at 90), ``prior_stays`` ~ Poisson(0.4 + 0.3 δ_g),
      ``income`` ~ LogNormal(7.3 − 0.15 δ_g, 0.5) (monthly), with ``δ_g`` the group's risk
      shift (−0.4, 0, 0.4, 0.7, 1.0).
    - ``risk`` = P(homeless within 12 months without the service)
      = logistic(−2.2 + δ_g + 0.5 prior_stays − 0.6 (log income − 7.3) − 0.01 (age − 40)).
    - ``need`` ~ Bernoulli(risk): whether the person would become homeless without help.
    - ``true_benefit`` = risk × e_g, with relative effect e_g (0.45, 0.40, 0.35, 0.30, 0.25):
      the absolute reduction in risk if served.
    - ``benefit`` = clip(true_benefit + noise, 0, 1), noise ~ Normal(0, ``benefit_se``),
      ``benefit_se`` = 0.02 + 0.1 × true_benefit: a model's estimate and its standard error.
    - ``cost`` = 1500 + 800 prior_stays + Gamma(2, 250): the cost of serving the person.

    Parameters
    ----------
    n : int
        Number of people (≥ 1).
    seed : int or None, default 0
        Seed of every random draw.
        The default, 0, makes repeated calls give identical results; pass ``seed=None``
        explicitly for fresh randomness on every call.

    Returns
    -------
    polars.DataFrame
        Columns ``person_id``, ``group``, ``age``, ``prior_stays``, ``income``, ``risk``,
        ``need``, ``true_benefit``, ``benefit``, ``benefit_se``, ``cost``.

    Examples
    --------
    >>> from evenhand.datasets import make_services_population
    >>> people = make_services_population(1000, seed=0)
    >>> people.shape
    (1000, 11)
    >>> sorted(people["group"].unique().to_list())
    ['A', 'B', 'C', 'D', 'E']
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise EvenhandError(f"n must be a positive integer number of people; got {n!r}.")
    rng = np.random.default_rng(seed)
    labels = np.array(list(GROUPS))
    share, shift, effect = (np.array(v) for v in zip(*GROUPS.values(), strict=True))
    g = rng.choice(len(labels), size=n, p=share)
    delta = shift[g]
    age = np.minimum(18 + rng.gamma(2.0, 10.0, n), 90).round().astype(np.int64)
    stays = rng.poisson(0.4 + 0.3 * delta, n)
    income = rng.lognormal(7.3 - 0.15 * delta, 0.5, n)
    logit = -2.2 + delta + 0.5 * stays - 0.6 * (np.log(income) - 7.3) - 0.01 * (age - 40)
    risk = 1 / (1 + np.exp(-logit))
    need = (rng.random(n) < risk).astype(np.int64)
    true_benefit = risk * effect[g]
    se = 0.02 + 0.1 * true_benefit
    benefit = np.clip(true_benefit + rng.normal(0, se), 0.0, 1.0)
    cost = 1500 + 800 * stays + rng.gamma(2.0, 250.0, n)
    return pl.DataFrame({
        "person_id": np.arange(n, dtype=np.int64), "group": labels[g], "age": age,
        "prior_stays": stays, "income": income.round(2), "risk": risk, "need": need,
        "true_benefit": true_benefit, "benefit": benefit, "benefit_se": se,
        "cost": cost.round(2),
    })
