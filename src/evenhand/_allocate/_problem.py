"""The allocation problem: validated inputs, rules, and the exact constraint checks.

Everything the two solvers (:mod:`evenhand._allocate._quota`, :mod:`evenhand._allocate._milp`)
and the result (:mod:`evenhand._allocate._allocate`) share lives here, so a rule is defined once.

Definitions (``x_i`` in {0, 1} says whether person ``i`` is served; ``k_g = Σ_{i∈g} x_i``;
``N_g`` is the size of group ``g``; ``S = Σ_g k_g``; ``t`` is the tolerance; ``ε = 1e-9``
absorbs floating-point noise only):

- capacity: ``S ≤ capacity`` (head count) or ``Σ_i cost_i x_i ≤ capacity`` (budget).
- ``parity``: ``max_g k_g/N_g − min_g k_g/N_g ≤ t + ε``.
- ``equal_opportunity``: the same on the service rates among people in need
  (``need = 1``); groups with nobody in need are not constrained.
- ``proportional``: ``|k_g/S − s_g| ≤ t + ε`` with ``s_g = N_g/N`` (or, with ``need``,
  the group's share of total need); vacuous when ``S = 0``.
- ``min_share`` / ``max_share``: ``m_g − ε ≤ k_g/S ≤ M_g + ε`` (also vacuous when ``S = 0``);
  they apply together with any rule except ``"none"``; the rule ``"shares"`` is these bounds
  alone.
- ``max_min``: first the largest ``z* = max min_g Σ_{i∈g} benefit_i x_i / N_g``, then the most
  total benefit with every group's mean benefit ``≥ (1 − t)·z* − ε·max(1, |z*|)``
  (``z* ≥ 0`` since serving nobody gives 0, so ``t`` is a fraction of the best level).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import polars as pl

from evenhand._core._errors import EvenhandError
from evenhand._core._frame import (
    as_column_list,
    check_column_arguments,
    from_any,
    require_columns,
)

__all__ = ["EPS", "RULES", "Problem", "Rule", "build_problem", "check_rule", "group_table"]

EPS = 1e-9
RULES = ("none", "parity", "proportional", "equal_opportunity", "max_min", "shares")


@dataclass(frozen=True)
class Rule:
    """One equity rule: its name, tolerance and whether share bounds apply."""

    name: str
    tolerance: float = 0.0
    shares: bool = True


@dataclass
class Problem:
    """Validated row-level arrays of one allocation problem (rows in the input's order)."""

    benefit: np.ndarray
    codes: np.ndarray
    keys: pl.DataFrame
    group_cols: list[str]
    capacity: float
    cost: np.ndarray | None = None
    need: np.ndarray | None = None
    min_share: np.ndarray | None = None
    max_share: np.ndarray | None = None
    se: np.ndarray | None = None
    draws: np.ndarray | None = None
    sizes: np.ndarray = field(init=False)
    cache: dict[str, Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.sizes = np.bincount(self.codes, minlength=self.n_groups)

    @property
    def n(self) -> int:
        """Number of people."""
        return len(self.benefit)

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return self.keys.height

    @property
    def head_count(self) -> bool:
        """Whether capacity counts people (no cost column)."""
        return self.cost is None

    @property
    def has_shares(self) -> bool:
        """Whether any per-group share bound is set."""
        return self.min_share is not None or self.max_share is not None

    def need_binary(self) -> bool:
        """Whether ``need`` is a 0/1 indicator."""
        return self.need is not None and bool(np.all((self.need == 0) | (self.need == 1)))

    def target_shares(self) -> np.ndarray:
        """``s_g`` of the proportional rule: size shares, or need shares with ``need``."""
        if self.need is None:
            return self.sizes / self.n
        total = np.bincount(self.codes, weights=self.need, minlength=self.n_groups)
        if total.sum() <= 0:
            raise EvenhandError(
                "The proportional rule with need needs some positive need; the need column is "
                "all zero. Pass a need column with positive values, or drop need=."
            )
        return total / total.sum()

    def share_bounds(self, rule: Rule) -> tuple[np.ndarray, np.ndarray] | None:
        """Per-group bounds ``(low, high)`` on ``k_g/S`` implied by ``rule`` and the shares."""
        low = np.zeros(self.n_groups)
        high = np.ones(self.n_groups)
        active = False
        if rule.name == "proportional":
            s = self.target_shares()
            low, high = np.maximum(s - rule.tolerance, 0.0), np.minimum(s + rule.tolerance, 1.0)
            active = True
        if rule.shares and rule.name != "none" and self.has_shares:
            if self.min_share is not None:
                low = np.maximum(low, self.min_share)
            if self.max_share is not None:
                high = np.minimum(high, self.max_share)
            active = True
        return (low, high) if active else None


def build_problem(
    data: Any,
    *,
    benefit: str,
    group: str | Sequence[str],
    capacity: float,
    cost: str | None,
    need: str | None,
    min_share: float | Mapping[Any, float] | None,
    max_share: float | Mapping[Any, float] | None,
    benefit_se: str | None,
    benefit_draws: Sequence[str] | None,
) -> Problem:
    """Select and validate the columns of ``data`` (only those leave the engine)."""
    check_column_arguments(
        "allocate", {"benefit": benefit, "cost": cost, "need": need, "benefit_se": benefit_se},
        {"group": group, "benefit_draws": benefit_draws},
    )
    frame = from_any(data)
    groups = as_column_list(group, "group")
    if not groups:
        raise EvenhandError("Pass group=<column or list of columns> to allocate.")
    draws = as_column_list(benefit_draws, "benefit_draws")
    if benefit_se is not None and draws:
        raise EvenhandError(
            "Pass either benefit_se (a standard error per person) or benefit_draws (columns of "
            "draws), not both; got both."
        )
    roles = {"benefit": [benefit], "group": groups, "cost": as_column_list(cost, "cost"),
             "need": as_column_list(need, "need"),
             "benefit_se": as_column_list(benefit_se, "benefit_se"), "benefit_draws": draws}
    require_columns(frame, roles)
    columns = list(dict.fromkeys(c for cols in roles.values() for c in cols))
    selected = frame.select(*columns)
    if isinstance(selected, nw.LazyFrame):
        selected = selected.collect(backend="polars")
    table = selected.to_polars()
    if table.height == 0:
        raise EvenhandError("The data has no rows; allocate needs at least one person.")
    codes, keys = _group_codes(table, groups)
    prob = Problem(
        benefit=_numeric(table, benefit, "benefit"), codes=codes, keys=keys, group_cols=groups,
        capacity=_check_capacity(capacity, cost is not None, table.height),
        cost=_numeric(table, cost, "cost", nonnegative=True) if cost else None,
        need=_numeric(table, need, "need", nonnegative=True) if need else None,
        se=_numeric(table, benefit_se, "benefit_se", nonnegative=True) if benefit_se else None,
        draws=(np.column_stack([_numeric(table, c, "benefit_draws") for c in draws])
               if draws else None),
    )
    prob.min_share = _shares(min_share, "min_share", keys, groups)
    prob.max_share = _shares(max_share, "max_share", keys, groups)
    _check_share_bounds(prob)
    return prob


def _numeric(table: pl.DataFrame, col: str, role: str, *, nonnegative: bool = False) -> np.ndarray:
    series = table.get_column(col)
    if series.dtype == pl.Boolean:
        series = series.cast(pl.Int8)
    if not series.dtype.is_numeric():
        raise EvenhandError(
            f"The {role} column {col!r} must be numeric; got dtype {series.dtype}. "
            "Cast it to a number first."
        )
    values = series.cast(pl.Float64).fill_null(np.nan).to_numpy()
    bad = ~np.isfinite(values)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise EvenhandError(
            f"The {role} column {col!r} has {int(bad.sum())} missing or infinite values "
            f"(first at row {first}: got {float(values[first])!r}). Fill or drop those rows first."
        )
    if nonnegative and (values < 0).any():
        first = int(np.flatnonzero(values < 0)[0])
        raise EvenhandError(
            f"The {role} column {col!r} must be non-negative; got {float(values[first])!r} at row "
            f"{first}. Fix or drop the negative values."
        )
    return values


def _group_codes(table: pl.DataFrame, groups: list[str]) -> tuple[np.ndarray, pl.DataFrame]:
    sub = table.select(groups)
    nulls = sum(sub.null_count().row(0))
    if nulls:
        raise EvenhandError(
            f"The group column(s) {groups} have {nulls} missing values. Fill them (e.g. with "
            "'unknown') or drop those rows."
        )
    if len(groups) == 1:
        keys = sub.unique().sort(groups)
        codes = sub.get_column(groups[0]).rank("dense").to_numpy().astype(np.int64) - 1
        return codes, keys
    keys = sub.unique().sort(groups)
    codes = (sub.with_row_index("__row")
             .join(keys.with_row_index("__code"), on=groups, how="left")
             .sort("__row").get_column("__code").to_numpy().astype(np.int64))
    return codes, keys


def _check_capacity(capacity: Any, budget: bool, n: int) -> float:
    if isinstance(capacity, bool) or not isinstance(capacity, int | float | np.number):
        raise EvenhandError(f"capacity must be a number; got {capacity!r}.")
    value = float(capacity)
    if not np.isfinite(value) or value < 0:
        raise EvenhandError(f"capacity must be a finite non-negative number; got {capacity!r}.")
    if budget:
        return value
    if value != int(value):
        raise EvenhandError(
            f"capacity counts people when no cost column is given, so it must be a whole "
            f"number; got {capacity!r}. Round it, or pass cost=<column> to make it a budget."
        )
    if value > n:
        raise EvenhandError(
            f"capacity ({int(value)}) is larger than the population ({n} people). Pass at most "
            f"{n}, or pass cost=<column> if capacity is a budget."
        )
    return value


def _shares(value: Any, name: str, keys: pl.DataFrame, groups: list[str]) -> np.ndarray | None:
    if value is None:
        return None
    labels = _labels(keys)
    if isinstance(value, Mapping):
        out = np.full(len(labels), 0.0 if name == "min_share" else 1.0)
        lookup = {str(k) if not isinstance(k, tuple) else " & ".join(map(str, k)): v
                  for k, v in value.items()}
        for k in lookup:
            if k not in labels:
                raise EvenhandError(
                    f"{name} names group {k!r}, which is not in the {groups} column(s); the "
                    f"groups are {labels[:20]}."
                )
        for i, lab in enumerate(labels):
            if lab in lookup:
                out[i] = lookup[lab]
    else:
        out = np.full(len(labels), value, dtype=float)
    if not np.all(np.isfinite(out)) or (out < 0).any() or (out > 1).any():
        raise EvenhandError(f"{name} values must be shares between 0 and 1; got {value!r}.")
    return out


def _labels(keys: pl.DataFrame) -> list[str]:
    return [" & ".join(str(v) for v in row) for row in keys.iter_rows()]


def _check_share_bounds(prob: Problem) -> None:
    low = prob.min_share if prob.min_share is not None else np.zeros(prob.n_groups)
    high = prob.max_share if prob.max_share is not None else np.ones(prob.n_groups)
    if low.sum() > 1 + EPS:
        raise EvenhandError(
            f"The min_share values sum to {low.sum():.4g} > 1, so no allocation can give every "
            "group its minimum share of the people served. Lower them."
        )
    if high.sum() < 1 - EPS:
        raise EvenhandError(
            f"The max_share values sum to {high.sum():.4g} < 1, so the shares of the people "
            "served cannot add up to 1. Raise them."
        )
    bad = np.flatnonzero(low > high)
    if bad.size:
        label = _labels(prob.keys)[bad[0]]
        raise EvenhandError(
            f"Group {label!r} has min_share {float(low[bad[0]])!r} > max_share "
            f"{float(high[bad[0]])!r}. "
            "Make min_share at most max_share."
        )


def group_table(prob: Problem, x: np.ndarray) -> dict[str, np.ndarray]:
    """Per-group ``size``, ``served``, ``rate``, ``benefit`` (and need/cost sums) of ``x``."""
    g = prob.n_groups
    xf = x.astype(float)
    served = np.bincount(prob.codes, weights=xf, minlength=g)
    out = {"size": prob.sizes, "served": served,
           "rate": served / prob.sizes,
           "benefit": np.bincount(prob.codes, weights=prob.benefit * xf, minlength=g)}
    out["mean_benefit"] = out["benefit"] / prob.sizes
    total = served.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["share"] = served / total if total > 0 else np.full(g, np.nan)
    if prob.need is not None:
        in_need = np.bincount(prob.codes, weights=prob.need, minlength=g)
        need_served = np.bincount(prob.codes, weights=prob.need * xf, minlength=g)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["need_rate"] = np.where(in_need > 0, need_served / np.where(in_need > 0,
                                                                            in_need, 1), np.nan)
    if prob.cost is not None:
        out["cost"] = np.bincount(prob.codes, weights=prob.cost * xf, minlength=g)
    return out


def maxmin_floor(z_star: float, tolerance: float) -> float:
    """Lower bound on every group's mean benefit under ``max_min`` (see module docstring)."""
    return (1.0 - tolerance) * z_star - EPS * max(1.0, abs(z_star))


def check_rule(prob: Problem, x: np.ndarray, rule: Rule, z_star: float | None = None) -> np.ndarray:
    """Per-group slack of ``rule`` for allocation ``x``: ``≥ −ε`` iff the rule holds.

    Slack is in the rule's own units: rate (parity, equal_opportunity), share (proportional,
    share bounds) or mean benefit (max_min). The smallest slack over a group's constraints is
    reported; ``nan`` for unconstrained groups and for ``"none"``.
    """
    stats = group_table(prob, x)
    slack = np.full(prob.n_groups, np.inf)
    if rule.name in ("parity", "equal_opportunity"):
        rate = stats["rate"] if rule.name == "parity" else stats["need_rate"]
        ok = np.isfinite(rate)
        if ok.any():
            hi, lo = rate[ok].max(), rate[ok].min()
            slack[ok] = rule.tolerance - np.maximum(hi - rate[ok], rate[ok] - lo)
    elif rule.name == "max_min" and z_star is not None:
        slack = stats["mean_benefit"] - (1.0 - rule.tolerance) * z_star
    bounds = prob.share_bounds(rule)
    if bounds is not None and stats["served"].sum() > 0:
        share = stats["share"]
        slack = np.minimum(slack, np.minimum(share - bounds[0], bounds[1] - share))
    return np.where(np.isinf(slack), np.nan, slack)


def capacity_used(prob: Problem, x: np.ndarray) -> float:
    """People served (head count) or money spent (budget)."""
    return float(x.sum()) if prob.cost is None else float(prob.cost[x].sum())
