"""General solver: the allocation as a mixed-integer programme solved by scipy's HiGHS.

Variables are ``x_i ∈ {0, 1}`` (served or not) plus one continuous helper: the minimum rate
``r`` (parity, equal opportunity) or the worst-group mean ``z`` (max_min). Every constraint is
linear (see :mod:`evenhand._allocate._problem` for the definitions):

- capacity: ``Σ x_i ≤ C`` or ``Σ cost_i x_i ≤ C``;
- rates: ``r ≤ Σ_{i∈c} w_i x_i / W_c ≤ r + t + ε`` per constrained cell, with ``w_i = 1``
  (parity) or ``w_i = need_i`` (equal opportunity, so continuous need gives need-weighted
  rates);
- shares: ``Σ_{i∈g} x_i − (m_g − ε) Σ_i x_i ≥ 0`` and ``Σ_{i∈g} x_i − (M_g + ε) Σ_i x_i ≤ 0``;
- max_min: stage 1 maximises ``z`` with ``Σ_{i∈g} b_i x_i / N_g ≥ z``; stage 2 maximises total
  benefit with ``Σ_{i∈g} b_i x_i / N_g ≥ (1 − t)·z* − ε·max(1, |z*|)``.

HiGHS is run with ``mip_rel_gap = 0`` so the optimum is proven up to HiGHS's absolute MIP gap
(1e-6, which scipy does not let us change) on benefits rescaled to a largest magnitude of 1:
the total benefit is within ``1e-6 · max |benefit|`` of the optimum. With ``time_limit`` it
may stop early and the result is flagged as not proven optimal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize, sparse

from evenhand._allocate._problem import EPS, Problem, Rule, maxmin_floor
from evenhand._core._errors import EvenhandError

__all__ = ["MilpResult", "solve_milp"]


@dataclass
class MilpResult:
    """Selection, whether HiGHS proved it optimal, and the max-min level if any."""

    x: np.ndarray
    optimal: bool
    z_star: float | None = None


class _Rows:
    """Accumulates sparse constraint rows ``lb ≤ A [x, extra] ≤ ub``."""

    def __init__(self, n: int, n_extra: int) -> None:
        self.width = n + n_extra
        self.blocks: list[sparse.csr_array] = []
        self.lb: list[float] = []
        self.ub: list[float] = []

    def add(self, coef: np.ndarray, extra: dict[int, float], lb: float, ub: float) -> None:
        row = np.zeros(self.width)
        row[: len(coef)] = coef
        for j, v in extra.items():
            row[len(coef) + j] = v
        nz = np.flatnonzero(row)
        self.blocks.append(sparse.csr_array((row[nz], (np.zeros(nz.size, int), nz)),
                                            shape=(1, self.width)))
        self.lb.append(lb)
        self.ub.append(ub)

    def constraint(self) -> optimize.LinearConstraint:
        return optimize.LinearConstraint(sparse.vstack(self.blocks).tocsr(),
                                         np.array(self.lb), np.array(self.ub))


def solve_milp(prob: Problem, rule: Rule, time_limit: float | None = None) -> MilpResult | None:
    """Exact optimum of ``rule`` by HiGHS (``None`` if only serving nobody satisfies it).

    Benefits are rescaled to a largest magnitude of 1 first: the optimal selection does not
    change, but HiGHS's absolute tolerances (about 1e-7) would otherwise swallow benefits
    that are tiny in the caller's units.
    """
    scale = float(np.max(np.abs(prob.benefit))) if prob.n else 0.0
    if scale > 0 and scale != 1.0:
        result = solve_milp(replace(prob, benefit=prob.benefit / scale), rule, time_limit)
        if result is not None and result.z_star is not None:
            result = replace(result, z_star=result.z_star * scale)
        return result
    if rule.name == "max_min":
        return _max_min(prob, rule, time_limit)
    n_extra = 1 if rule.name in ("parity", "equal_opportunity") else 0
    rows = _base_rows(prob, rule, n_extra)
    c = np.concatenate([-prob.benefit, np.zeros(n_extra)])
    return _solve(prob, c, rows, n_extra, time_limit)


def _base_rows(prob: Problem, rule: Rule, n_extra: int) -> _Rows:
    rows = _Rows(prob.n, n_extra)
    weight = np.ones(prob.n) if prob.cost is None else prob.cost
    rows.add(weight, {}, -np.inf, prob.capacity)
    if rule.name in ("parity", "equal_opportunity"):
        w = np.ones(prob.n) if rule.name == "parity" else _need_weights(prob)
        for g in range(prob.n_groups):
            coef = np.where(prob.codes == g, w, 0.0)
            total = coef.sum()
            if total > 0:  # r ≤ rate_g ≤ r + t + ε
                rows.add(coef / total, {0: -1.0}, 0.0, rule.tolerance + EPS)
    bounds = prob.share_bounds(rule)
    if bounds is not None:
        for g in range(prob.n_groups):
            member = (prob.codes == g).astype(float)
            rows.add(member - (bounds[0][g] - EPS), {}, 0.0, np.inf)
            rows.add(member - (bounds[1][g] + EPS), {}, -np.inf, 0.0)
    return rows


def _need_weights(prob: Problem) -> np.ndarray:
    if prob.need is None:
        raise EvenhandError(
            "The equal_opportunity rule needs need=<column> (who is in need); none was given."
        )
    return prob.need


def _solve(prob: Problem, c: np.ndarray, rows: _Rows, n_extra: int,
           time_limit: float | None) -> MilpResult | None:
    integrality = np.concatenate([np.ones(prob.n), np.zeros(n_extra)])
    lower = np.concatenate([np.zeros(prob.n), np.full(n_extra, -np.inf)])
    upper = np.concatenate([np.ones(prob.n), np.full(n_extra, np.inf)])
    options = {"mip_rel_gap": 0.0, "presolve": True}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    res = optimize.milp(c, integrality=integrality, bounds=optimize.Bounds(lower, upper),
                        constraints=rows.constraint(), options=options)
    if res.x is None:
        if res.status == 1:
            raise EvenhandError(
                f"The MILP solver hit time_limit={time_limit!r} before finding any feasible "
                "allocation. Raise time_limit, or use a head-count capacity so the exact "
                "sort-based method applies."
            )
        return None
    x = res.x[: prob.n] > 0.5
    return MilpResult(x=x, optimal=res.status == 0)


def _max_min(prob: Problem, rule: Rule, time_limit: float | None) -> MilpResult | None:
    mean_coef = [np.where(prob.codes == g, prob.benefit / prob.sizes[g], 0.0)
                 for g in range(prob.n_groups)]
    rows = _base_rows(prob, rule, 1)
    for coef in mean_coef:  # z ≤ mean benefit of every group
        rows.add(coef, {0: -1.0}, 0.0, np.inf)
    c = np.concatenate([np.zeros(prob.n), [-1.0]])
    first = _solve(prob, c, rows, 1, time_limit)
    if first is None:
        return None
    z_star = float(min(coef[first.x].sum() for coef in mean_coef))
    floor = min(maxmin_floor(z_star, rule.tolerance), z_star)
    rows = _base_rows(prob, rule, 0)
    for coef in mean_coef:
        rows.add(coef, {}, floor, np.inf)
    second = _solve(prob, -prob.benefit, rows, 0, time_limit)
    if second is None:  # cannot happen in exact arithmetic: stage 1's x is feasible
        second = MilpResult(first.x, False)
    return MilpResult(second.x, first.optimal and second.optimal, z_star)
