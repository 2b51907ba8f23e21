"""``evenhand.allocate``: who gets a scarce resource, under an explicit equity rule.

The rules and their exact definitions are in :mod:`evenhand._allocate._problem`; the exact
sort-based solver in :mod:`evenhand._allocate._quota`; the general HiGHS MILP in
:mod:`evenhand._allocate._milp`; the result object in :mod:`evenhand._allocate._result`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from evenhand._allocate._problem import RULES, Problem, Rule, build_problem
from evenhand._allocate._quota import quota_applicable, solve_quota
from evenhand._allocate._result import Allocation, Solution
from evenhand._core._errors import EvenhandError
from evenhand._core._frame import native_library

__all__ = ["Allocation", "allocate"]

METHODS = ("auto", "quota", "milp")

_HINTS = {
    "parity": "With integer head counts, equal rates are often impossible unless tolerance is "
              "at least about 1/(smallest group size); raise tolerance.",
    "equal_opportunity": "With integer head counts, equal rates among people in need are often "
                         "impossible unless tolerance is at least about 1/(fewest in need in "
                         "a group); raise tolerance.",
    "proportional": "Raise tolerance, or check that every group has enough people for its "
                    "target share.",
    "shares": "Loosen min_share/max_share, or check that every group has enough people for "
              "its minimum share.",
    "max_min": "Raise capacity or tolerance.",
}


def allocate(
    data: Any,
    *,
    benefit: str,
    group: str | Sequence[str],
    capacity: float,
    cost: str | None = None,
    need: str | None = None,
    constraint: str | None = None,
    tolerance: float = 0.0,
    min_share: float | Mapping[Any, float] | None = None,
    max_share: float | Mapping[Any, float] | None = None,
    compare: Sequence[str] | bool | None = None,
    benefit_se: str | None = None,
    benefit_draws: Sequence[str] | None = None,
    ci: float = 0.95,
    method: Literal["auto", "quota", "milp"] = "auto",
    time_limit: float | None = None,
) -> Allocation:
    """Choose who is served to do the most good under an equity rule, and show its cost.

    Each person ``i`` has an expected ``benefit_i`` if served. The allocation ``x_i ∈ {0, 1}``
    maximises ``Σ_i benefit_i x_i`` subject to capacity and the rule. Capacity is an upper
    bound: nobody is served whose benefit is not positive unless the rule requires it.

    With ``k_g`` people served in group ``g`` of size ``N_g``, ``S = Σ_g k_g`` and tolerance
    ``t`` (``ε = 1e-9`` absorbs floating-point noise only), the rules are

    - ``"none"``: capacity only (the unconstrained optimum).
    - ``"parity"``: ``max_g k_g/N_g − min_g k_g/N_g ≤ t``.
    - ``"proportional"``: ``|k_g/S − s_g| ≤ t`` where ``s_g = N_g/N``, or the group's share of
      total ``need`` when ``need`` is given.
    - ``"equal_opportunity"``: service rates among people in need (``need = 1``) differ by at
      most ``t``; groups with nobody in need are not constrained. A continuous ``need`` gives
      need-weighted rates ``Σ need_i x_i / Σ need_i`` (solved by the MILP).
    - ``"max_min"``: the largest worst-group mean benefit ``z* = max min_g Σ_{i∈g}
      benefit_i x_i / N_g`` first; then the most total benefit with every group's mean at
      least ``(1 − t)·z*`` (``t`` is a fraction of the best worst-group level).
    - ``"shares"``: only ``min_share ≤ k_g/S ≤ max_share`` (these bounds also apply together
      with every other rule except ``"none"``).

    Share constraints are vacuous when nobody is served (``S = 0``).

    Parameters
    ----------
    data : DataFrame-like
        pandas, polars (eager or lazy), pyarrow, DuckDB, Spark or a dict of arrays; only the
        named columns are collected, and ``data`` is never modified.
    benefit : str
        Column of expected benefit per person if served (finite; may be negative).
    group : str or list of str
        Group column(s); several columns define groups as their intersections.
    capacity : float
        Number of people that can be served (a whole number ≤ the population), or a budget
        when ``cost`` is given.
    cost : str, optional
        Column of non-negative cost per person; then ``Σ cost_i x_i ≤ capacity``.
    need : str, optional
        0/1 (or non-negative continuous) need; used by ``"equal_opportunity"`` and by
        ``"proportional"`` (shares of total need instead of group size).
    constraint : str, optional
        One of ``"none"``, ``"parity"``, ``"proportional"``, ``"equal_opportunity"``,
        ``"max_min"``, ``"shares"``. ``None`` means ``"shares"`` when share bounds are given,
        else ``"none"``.
    tolerance : float, default 0.0
        ``t`` above: a difference of rates (parity, equal opportunity), of shares
        (proportional) or a fraction of ``z*`` (max_min); ``compare`` uses it for every rule.
    min_share, max_share : float or dict of group to float, optional
        Bounds on each group's share of the people served (one value for all groups, or per
        group; a group of several columns is named ``"a & b"``).
    compare : list of str or True, optional
        Rules to solve side by side (``True``: every rule that applies); see
        :attr:`Allocation.compare`.
    benefit_se : str, optional
        Column of the benefit's standard error (independent errors): normal intervals of
        total and per-group benefit.
    benefit_draws : list of str, optional
        Columns of bootstrap or posterior draws of the benefit: percentile intervals.
    ci : float, default 0.95
        Level of those intervals.
    method : {"auto", "quota", "milp"}
        ``"quota"``: the exact sort-based method (head-count capacity; every rule, except
        equal opportunity with continuous need and max_min or equal opportunity combined with
        share bounds); ``"milp"``: the mixed-integer programme by HiGHS (any rule, any
        capacity; practical up to about 10⁴ people); ``"auto"``: quota when it applies.
        Both are exact.
    time_limit : float, optional
        Seconds allowed to each MILP solve; a solve stopped early is reported as
        ``status="time_limit"`` (feasible, not proven optimal).

    Returns
    -------
    Allocation

    Notes
    -----
    Measured on 2 shared cores (five groups, capacity 10 %, ``benchmarks/allocate_speed.py``):
    the quota method takes 0.25–0.8 s at 10⁶ people and 3.3–6 s at 10⁷ for every rule;
    scipy's HiGHS MILP needs 18 s to over 300 s at 10⁴ people for the same optimum. Budgets
    with costs always go to the MILP, so keep them to about 10⁴ people or set ``time_limit``.

    Raises
    ------
    EvenhandError
        For capacity above the population, negative costs, missing or infinite benefits,
        unknown rules, and a rule that only serving nobody satisfies.

    Examples
    --------
    >>> import evenhand
    >>> data = {"benefit": [0.9, 0.8, 0.7, 0.6, 0.2, 0.1],
    ...         "group": ["a", "a", "a", "a", "b", "b"]}
    >>> free = evenhand.allocate(data, benefit="benefit", group="group", capacity=3)
    >>> free.selected.to_list()
    [True, True, True, False, False, False]
    >>> fair = evenhand.allocate(data, benefit="benefit", group="group", capacity=3,
    ...                          constraint="parity", tolerance=0.25)
    >>> fair.selected.to_list()
    [True, True, False, False, True, False]
    >>> round(fair.price_of_fairness, 3)
    0.5
    """
    name = _check_arguments(constraint, tolerance, method, ci, min_share, max_share)
    prob = build_problem(data, benefit=benefit, group=group, capacity=capacity, cost=cost,
                         need=need, min_share=min_share, max_share=max_share,
                         benefit_se=benefit_se, benefit_draws=benefit_draws)
    if name == "equal_opportunity" and prob.need is None:
        raise EvenhandError(
            "constraint='equal_opportunity' needs need=<column> saying who is in need."
        )
    rule = Rule(name, float(tolerance))
    # the unconstrained optimum is exact by either method: use the fast one when it applies
    reference = _solve(prob, Rule("none"), "auto", time_limit)
    assert reference is not None  # serving nobody fits any capacity: "none" is always feasible
    same = name == "none" and (method == "auto" or method == reference.method)
    chosen = reference if same else _solve(prob, rule, method, time_limit)
    if chosen is None or _infeasible(prob, chosen, reference):
        raise EvenhandError(_infeasible_message(rule))
    solutions: dict[str, Solution | None] = {}  # None: the rule is infeasible here
    for other in _compare_rules(compare, prob):
        if other == name:
            solutions[other] = chosen
        elif other == "none":
            solutions[other] = reference
        else:
            sol = _solve(prob, Rule(other, float(tolerance)), method, time_limit)
            solutions[other] = None if _infeasible(prob, sol, reference) else sol
    config = {"benefit": benefit, "group": prob.group_cols, "capacity": prob.capacity,
              "cost": cost, "need": need, "constraint": name, "tolerance": float(tolerance),
              "min_share": min_share, "max_share": max_share, "benefit_se": benefit_se,
              "benefit_draws": list(benefit_draws) if benefit_draws else None, "ci": ci,
              "method": method, "time_limit": time_limit}
    return Allocation(prob=prob, rule=rule, solution=chosen, reference=reference,
                      compare=solutions if compare else None, config=config,
                      library=native_library(data), index=_pandas_index(data))


def _check_arguments(constraint, tolerance, method, ci, min_share, max_share) -> str:
    shares = min_share is not None or max_share is not None
    name = constraint if constraint is not None else ("shares" if shares else "none")
    if name not in RULES:
        raise EvenhandError(
            f"The 'constraint' parameter of allocate must be one of {RULES}. Got {name!r} "
            "instead."
        )
    if name == "shares" and not shares:
        raise EvenhandError("constraint='shares' needs min_share= and/or max_share=.")
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float | np.number) or \
            not np.isfinite(tolerance) or tolerance < 0:
        raise EvenhandError(f"tolerance must be a finite number ≥ 0; got {tolerance!r}.")
    if method not in METHODS:
        raise EvenhandError(
            f"The 'method' parameter of allocate must be one of {METHODS}. Got {method!r} "
            "instead."
        )
    if not 0 < ci < 1:
        raise EvenhandError(f"ci must be a confidence level strictly between 0 and 1; got {ci!r}.")
    return name


def _solve(prob: Problem, rule: Rule, method: str, time_limit: float | None) -> Solution | None:
    """Solve ``rule`` exactly; ``None`` if no allocation (not even serving nobody) fits."""
    use_quota = method == "quota" or (method == "auto" and quota_applicable(prob, rule))
    if use_quota and not quota_applicable(prob, rule):
        raise EvenhandError(
            f"method='quota' cannot solve rule {rule.name!r} here: it needs a head-count "
            "capacity (no cost), a 0/1 need for equal_opportunity, and no share bounds with "
            "equal_opportunity or max_min. Use method='auto' or 'milp'."
        )
    if use_quota:
        res = solve_quota(prob, rule)
        return None if res is None else Solution(res.x, "quota", "optimal", res.z_star)
    from evenhand._allocate._milp import solve_milp  # scipy.optimize loads in ~0.5 s: lazily

    mres = solve_milp(prob, rule, time_limit)
    if mres is None:
        return None
    return Solution(mres.x, "milp", "optimal" if mres.optimal else "time_limit", mres.z_star)


def _infeasible(prob: Problem, sol: Solution | None, reference: Solution | None) -> bool:
    """Tell whether a rule is infeasible: its best allocation serves nobody, yet some do good."""
    if sol is None:
        return True
    gain = 0.0 if reference is None else float(prob.benefit[reference.x].sum())
    return bool(
        not sol.x.any() and reference is not None and reference.x.any() and gain > 0
    )


def _infeasible_message(rule: Rule) -> str:
    return (
        f"The rule {rule.name!r} (tolerance={rule.tolerance!r}) is infeasible: the only "
        "allocations that satisfy it serve nobody (or do net harm), although capacity allows "
        f"serving people with positive benefit. {_HINTS.get(rule.name, '')}"
    )


def _compare_rules(compare: Sequence[str] | bool | None, prob: Problem) -> list[str]:
    if compare is None or compare is False:
        return []
    if compare is True:
        rules = ["none", "parity", "proportional", "max_min"]
        rules += ["equal_opportunity"] if prob.need is not None else []
        return rules + (["shares"] if prob.has_shares else [])
    names = [compare] if isinstance(compare, str) else list(compare)
    for n in names:
        if n not in RULES:
            raise EvenhandError(f"compare names unknown rule {n!r}; the rules are {RULES}.")
        if n == "equal_opportunity" and prob.need is None:
            raise EvenhandError("compare includes 'equal_opportunity', which needs need=<column>.")
        if n == "shares" and not prob.has_shares:
            raise EvenhandError("compare includes 'shares', which needs min_share= or max_share=.")
    return list(dict.fromkeys(names))


def _pandas_index(data: Any) -> Any:
    return getattr(data, "index", None) if native_library(data) == "pandas" else None
