"""A synthetic post-cardiac-surgery cohort with known factor-group contributions to a gap.

The 30-day complication probability is linear in the factors with the same coefficients in
both groups, plus a group-A shift (the part no factor explains):

``p = p0 + Σ_j β_j (x_j − μ_Bj) + δ·[group = A]``,  ``complication ~ Bernoulli(p)``.

Every factor has a bounded distribution (a scaled Beta law, a Bernoulli or a categorical law)
whose group-A mean differs from group B's by an amount chosen so that factor group ``k``
contributes exactly ``effects[k] = Σ_{j∈k} β_j (μ_Aj − μ_Bj)`` to the population gap
``P(complication | A) − P(complication | B) = Σ_k effects[k] + δ``. Bounded supports keep
``p`` inside ``[0, 1]`` without clipping, so linear decompositions (Oaxaca–Blinder with any
common-coefficient reference: a group, Reimers, Cotton or Jann) are correctly specified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from evenhand._core._errors import EvenhandError

__all__ = ["CardiacCohort", "make_cardiac_cohort"]

BASE_RATE = 0.25  # complication probability at group B's mean factor values
SHARE_A = 0.4  # probability of belonging to group A
DEFAULT_EFFECTS = {"biological": 0.02, "socioeconomic": 0.015, "care": 0.015, "unexplained": 0.01}

# name: (factor group, lo, hi, beta shape a, beta shape b, coefficient, unit shift of the mean)
_CONTINUOUS = {
    "age": ("biological", 45.0, 85.0, 2.0, 2.0, 0.002, 3.0),
    "bmi": ("biological", 18.0, 42.0, 2.0, 3.0, 0.003, 1.5),
    "ejection_fraction": ("biological", 25.0, 70.0, 3.0, 2.0, -0.002, -3.0),
    "distance_km": ("socioeconomic", 2.0, 100.0, 1.5, 4.0, 0.0003, 10.0),
    "hospital_volume": ("care", 100.0, 1000.0, 2.0, 3.0, -0.00004, -150.0),
    "surgeon_years": ("care", 2.0, 35.0, 2.0, 2.0, -0.001, -3.0),
    "days_to_surgery": ("care", 0.0, 30.0, 1.5, 5.0, 0.002, 4.0),
}
# name: (factor group, levels, group-B probabilities, unit change of probabilities, coefficients)
_DISCRETE = {
    "diabetes": ("biological", (0, 1), (0.75, 0.25), (-0.08, 0.08), (0.0, 0.04)),
    "insurance": (
        "socioeconomic",
        ("private", "medicare", "medicaid", "uninsured"),
        (0.40, 0.40, 0.12, 0.08),
        (-0.15, -0.05, 0.13, 0.07),
        (0.0, 0.01, 0.03, 0.05),
    ),
    "income_quintile": (
        "socioeconomic",
        (1, 2, 3, 4, 5),
        (0.2, 0.2, 0.2, 0.2, 0.2),
        (0.1, 0.05, 0.0, -0.05, -0.1),
        (0.016, 0.008, 0.0, -0.008, -0.016),
    ),
}
FACTORS = {
    "biological": ["age", "bmi", "diabetes", "ejection_fraction"],
    "socioeconomic": ["insurance", "income_quintile", "distance_km"],
    "care": ["hospital_volume", "surgeon_years", "days_to_surgery"],
}


@dataclass(frozen=True)
class CardiacCohort:
    """A generated cohort and the truth it was generated from.

    Attributes
    ----------
    frame : polars.DataFrame
        One row per patient: ``group`` (``"A"`` or ``"B"``), the factor columns and
        ``complication`` (0/1).
    factors : dict
        Factor-group name to its columns (pass to :func:`evenhand.decompose`).
    effects : dict
        True contribution of each factor group to the population gap, plus
        ``"unexplained"`` (the group-A shift ``δ``).
    gap : float
        True population gap ``P(complication | A) − P(complication | B)``.
    outcome, group : str
        Column names of the outcome and the group.
    """

    frame: pl.DataFrame
    factors: dict[str, list[str]] = field(default_factory=dict)
    effects: dict[str, float] = field(default_factory=dict)
    gap: float = 0.0
    outcome: str = "complication"
    group: str = "group"


def _unit_contributions() -> dict[str, float]:
    out = dict.fromkeys(FACTORS, 0.0)
    for fac, *_, coef, shift in _CONTINUOUS.values():
        out[fac] += coef * shift
    for fac, _, _, dp, coefs in _DISCRETE.values():
        out[fac] += float(np.dot(dp, coefs))
    return out


def _check_effects(effects: Mapping[str, float] | None) -> dict[str, float]:
    merged = dict(DEFAULT_EFFECTS)
    if effects is not None:
        unknown = set(effects) - set(DEFAULT_EFFECTS)
        if unknown:
            raise EvenhandError(
                f"Unknown keys in 'effects': {sorted(unknown)!r}; use some of "
                f"{list(DEFAULT_EFFECTS)}."
            )
        merged.update({k: float(v) for k, v in effects.items()})
    lo, hi = _probability_range(merged["unexplained"])
    if lo < 0.0 or hi > 1.0:
        raise EvenhandError(
            f"effects['unexplained'] = {merged['unexplained']!r} would push complication "
            f"probabilities outside [0, 1] (range {lo:.3f} to {hi:.3f}); ask for a smaller "
            "absolute value."
        )
    return merged


def _beta_a(lo: float, hi: float, a: float, b: float, shift: float, name: str) -> float:
    """Shape ``a`` of group A's Beta law so its mean is group B's mean + ``shift``."""
    t = a / (a + b) + shift / (hi - lo)
    if not 0.02 <= t <= 0.98:
        raise EvenhandError(
            f"The requested effect moves the mean of {name!r} outside its range [{lo}, {hi}]; "
            "ask for a smaller effect of its factor group."
        )
    return t * b / (1.0 - t)


def _draw(
    rng: np.random.Generator, in_a: np.ndarray, scale: dict[str, float]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Draw every factor and return the columns and the linear predictor's factor part."""
    n = in_a.shape[0]
    cols: dict[str, np.ndarray] = {}
    lin = np.zeros(n)
    for name, (fac, lo, hi, a, b, coef, shift) in _CONTINUOUS.items():
        a_a = _beta_a(lo, hi, a, b, scale[fac] * shift, name)
        u = np.where(in_a, rng.beta(a_a, b, size=n), rng.beta(a, b, size=n))
        x = lo + (hi - lo) * u
        cols[name] = x
        lin += coef * (x - (lo + (hi - lo) * a / (a + b)))
    for name, (fac, levels, pb, dp, coefs) in _DISCRETE.items():
        pa = np.asarray(pb) + scale[fac] * np.asarray(dp)
        if np.any(pa < 0):
            raise EvenhandError(
                f"The requested effect of factor group {fac!r} makes a probability of "
                f"{name!r} negative; ask for a smaller effect."
            )
        code = np.where(
            in_a, rng.choice(len(levels), size=n, p=pa), rng.choice(len(levels), size=n, p=pb)
        )
        cols[name] = np.asarray(levels, dtype=object if isinstance(levels[0], str) else None)[code]
        lin += np.asarray(coefs)[code] - float(np.dot(pb, coefs))
    return cols, lin


def make_cardiac_cohort(
    n: int, *, seed: int | None, effects: Mapping[str, float] | None = None
) -> CardiacCohort:
    """Generate a post-surgery cohort whose complication gap has known factor-group parts.

    Group A (40% of patients) has more 30-day complications than group B. The factor
    groups are *biological* (``age``, ``bmi``, ``diabetes``, ``ejection_fraction``),
    *socioeconomic* (``insurance`` — categorical —, ``income_quintile``, ``distance_km``)
    and *care* (``hospital_volume``, ``surgeon_years``, ``days_to_surgery``). See the module
    docstring for the model; the factor groups are independent of each other within a group.

    Parameters
    ----------
    n : int
        Number of patients (at least 100).
    seed : int or None
        Seed of the random generator (keyword-only, required so results are reproducible).
    effects : dict, optional
        True contributions to the gap, keys among ``"biological"``, ``"socioeconomic"``,
        ``"care"`` and ``"unexplained"``; missing keys take the defaults
        ``{"biological": 0.02, "socioeconomic": 0.015, "care": 0.015, "unexplained": 0.01}``.

    Returns
    -------
    CardiacCohort
        ``frame`` (polars), ``factors``, the true ``effects`` and population ``gap``.

    Raises
    ------
    EvenhandError
        If ``n < 100`` or an effect is too large for the factors' bounded ranges.

    Examples
    --------
    >>> from evenhand.datasets import make_cardiac_cohort
    >>> cohort = make_cardiac_cohort(1000, seed=0)
    >>> cohort.frame.shape
    (1000, 12)
    >>> round(cohort.gap, 3)
    0.06
    """
    if not isinstance(n, int) or n < 100:
        raise EvenhandError(f"The 'n' parameter must be an integer of at least 100; got {n!r}.")
    truth = _check_effects(effects)
    unit = _unit_contributions()
    scale = {k: truth[k] / unit[k] for k in FACTORS}
    rng = np.random.default_rng(seed)
    in_a = rng.random(n) < SHARE_A
    cols, lin = _draw(rng, in_a, scale)
    p = BASE_RATE + lin + truth["unexplained"] * in_a
    y = (rng.random(n) < p).astype(np.int64)
    frame = pl.DataFrame(
        {"group": np.where(in_a, "A", "B"), **cols, "complication": y}, strict=False
    )
    return CardiacCohort(
        frame=frame,
        factors={k: list(v) for k, v in FACTORS.items()},
        effects=truth,
        gap=float(sum(truth.values())),
    )


def _probability_range(unexplained: float) -> tuple[float, float]:
    """Smallest and largest possible complication probability (for tests and checks)."""
    lo = hi = BASE_RATE
    for _, x_lo, x_hi, a, b, coef, _ in _CONTINUOUS.values():
        mean = x_lo + (x_hi - x_lo) * a / (a + b)
        ends = (coef * (x_lo - mean), coef * (x_hi - mean))
        lo, hi = lo + min(ends), hi + max(ends)
    for _, _, pb, _, coefs in _DISCRETE.values():
        centre = float(np.dot(pb, coefs))
        lo, hi = lo + min(coefs) - centre, hi + max(coefs) - centre
    return lo + min(unexplained, 0.0), hi + max(unexplained, 0.0)
