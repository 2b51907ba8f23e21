"""The :class:`Allocation` returned by :func:`evenhand.allocate`."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import polars as pl

from evenhand._allocate._problem import Problem, Rule, capacity_used, check_rule, group_table
from evenhand._core._json import dump_json, jsonable, records

__all__ = ["SCHEMA", "Allocation", "Solution"]

SCHEMA = "evenhand.allocation/1"


@dataclass
class Solution:
    """One solved rule: the selection, the method, its status and the max-min level."""

    x: np.ndarray
    method: str
    status: str
    z_star: float | None = None


class Allocation:
    """Result of :func:`evenhand.allocate`.

    Attributes
    ----------
    selected : Series
        Boolean per input row (pandas Series with the input's index for pandas input, else a
        polars Series named ``selected``).
    total_benefit : float
        ``Σ_i benefit_i x_i``.
    price_of_fairness : float
        Total benefit of the unconstrained optimum minus that of this allocation; never
        negative (both are exact optima, the rule only removes options), and 0 when the
        unconstrained optimum already satisfies the rule.
    relative_price_of_fairness : float
        ``price_of_fairness`` divided by the unconstrained total (``nan`` when that is 0).
    status : str
        ``"optimal"`` (proven), or ``"time_limit"`` when the MILP stopped early.
    """

    def __init__(self, *, prob: Problem, rule: Rule, solution: Solution,
                 reference: Solution, compare: Mapping[str, Solution | None] | None,
                 config: dict[str, Any], library: str, index: Any = None) -> None:
        self._prob = prob
        self._rule = rule
        self._sol = solution
        self._ref = reference
        self._compare = compare
        self.config = config
        self._library = library
        self._index = index

    # --- the allocation -------------------------------------------------------------------
    @property
    def selected(self) -> Any:
        """Whether each input row is served, in the caller's library."""
        if self._library == "pandas":
            import pandas as pd

            return pd.Series(self._sol.x.copy(), index=self._index, name="selected")
        return pl.Series("selected", self._sol.x)

    @property
    def total_benefit(self) -> float:
        """Sum of the benefit of the people served."""
        return float(self._prob.benefit[self._sol.x].sum())

    @property
    def served(self) -> int:
        """Number of people served."""
        return int(self._sol.x.sum())

    @property
    def capacity_used(self) -> float:
        """People served (head count) or money spent (budget)."""
        return capacity_used(self._prob, self._sol.x)

    @property
    def status(self) -> str:
        """``"optimal"`` or ``"time_limit"``."""
        return self._sol.status

    @property
    def method(self) -> str:
        """``"quota"`` or ``"milp"``: the solver that produced the allocation."""
        return self._sol.method

    @property
    def unconstrained_benefit(self) -> float:
        """Total benefit of the optimum under capacity alone."""
        return float(self._prob.benefit[self._ref.x].sum())

    @property
    def price_of_fairness(self) -> float:
        """Benefit lost against the unconstrained optimum (≥ 0)."""
        return _price(self._prob, self._ref, self._sol)

    @property
    def relative_price_of_fairness(self) -> float:
        """``price_of_fairness / unconstrained_benefit`` (``nan`` when the latter is 0)."""
        base = self.unconstrained_benefit
        return self.price_of_fairness / base if base > 0 else float("nan")

    # --- tables ---------------------------------------------------------------------------
    @property
    def by_group(self) -> Any:
        """One row per group.

        Columns: the group column(s), ``size``, ``served``, ``rate`` (served/size), ``share``
        (of all served; ``nan`` if nobody is), ``benefit`` (sum over the served),
        ``mean_benefit`` (benefit/size), with need ``in_need`` and ``need_rate`` (rate among
        those in need, ``nan`` with nobody in need), with a cost ``cost`` (spent), with
        uncertainty ``benefit_low``/``benefit_high``, and ``slack``: the margin by which the
        group meets the rule, in the rule's units (``nan`` for ``"none"``; ``≥ 0`` up to
        ``1e-9`` when it holds).
        """
        return _out(self._group_frame(self._sol, self._rule), self._library)

    def _group_frame(self, sol: Solution, rule: Rule) -> pl.DataFrame:
        prob = self._prob
        stats = group_table(prob, sol.x)
        cols: dict[str, Any] = {"size": prob.sizes.astype(np.int64),
                                "served": stats["served"].astype(np.int64),
                                "rate": stats["rate"], "share": stats["share"],
                                "benefit": stats["benefit"],
                                "mean_benefit": stats["mean_benefit"]}
        if prob.need is not None:
            cols["in_need"] = np.bincount(prob.codes, weights=prob.need,
                                          minlength=prob.n_groups)
            cols["need_rate"] = stats["need_rate"]
        if prob.cost is not None:
            cols["cost"] = stats["cost"]
        interval = self._group_interval(sol.x)
        if interval is not None:
            cols["benefit_low"], cols["benefit_high"] = interval
        cols["slack"] = check_rule(prob, sol.x, rule, sol.z_star) if rule.name != "none" \
            else np.full(prob.n_groups, np.nan)
        return prob.keys.with_columns(pl.Series(k, v) for k, v in cols.items())

    @property
    def compare(self) -> Any:
        """One row per compared rule (``None`` unless ``compare`` was passed).

        Columns: ``rule``, ``status`` (``optimal``, ``time_limit`` or ``infeasible``),
        ``method``, ``served``, ``total_benefit``, ``price_of_fairness``,
        ``relative_price_of_fairness``, ``rate_gap`` (max − min service rate),
        ``min_mean_benefit`` (worst group's mean benefit), ``share_gap``
        (max_g |share_g − size share_g|), with need ``need_rate_gap``, and with uncertainty
        ``benefit_low``/``benefit_high`` (the interval of ``total_benefit``). Infeasible rules
        have nulls.
        """
        if self._compare is None:
            return None
        return _out(self._compare_frame(), self._library)

    def _compare_frame(self) -> pl.DataFrame:
        assert self._compare is not None  # callers check first that compare= was passed
        rows = [self._compare_row(name, sol) for name, sol in self._compare.items()]
        return pl.DataFrame(rows, infer_schema_length=None)

    def _compare_row(self, name: str, sol: Solution | None) -> dict[str, Any]:
        row: dict[str, Any] = {"rule": name, "tolerance": self._rule.tolerance,
                               "status": "infeasible" if sol is None else sol.status,
                               "method": None if sol is None else sol.method}
        keys = ["served", "total_benefit", "price_of_fairness", "relative_price_of_fairness",
                "rate_gap", "min_mean_benefit", "share_gap"]
        keys += ["need_rate_gap"] if self._prob.need is not None else []
        if sol is None:
            return row | dict.fromkeys(keys)
        prob = self._prob
        stats = group_table(prob, sol.x)
        base = self.unconstrained_benefit
        price = _price(prob, self._ref, sol)
        row |= {"served": int(sol.x.sum()), "total_benefit": float(prob.benefit[sol.x].sum()),
                "price_of_fairness": price,
                "relative_price_of_fairness": price / base if base > 0 else None,
                "rate_gap": float(np.ptp(stats["rate"])),
                "min_mean_benefit": float(stats["mean_benefit"].min()),
                "share_gap": (float(np.max(np.abs(stats["share"] - prob.sizes / prob.n)))
                              if sol.x.any() else None)}
        if prob.need is not None:
            rates = stats["need_rate"][np.isfinite(stats["need_rate"])]
            row["need_rate_gap"] = float(np.ptp(rates)) if rates.size else None
        interval = self._interval(sol.x.astype(float))
        if interval is not None:
            row["benefit_low"], row["benefit_high"] = interval
        return row

    def compare_by_group(self) -> Any:
        """Long table of every compared rule's per-group ``served``, ``rate`` and ``benefit``."""
        if self._compare is None:
            return None
        frames = []
        for name, sol in self._compare.items():
            if sol is not None:
                frame = self._group_frame(sol, Rule(name, self._rule.tolerance))
                frames.append(frame.select(*self._prob.group_cols, "served", "rate",
                                           "benefit").with_columns(rule=pl.lit(name)))
        return _out(pl.concat(frames).select("rule", pl.exclude("rule")), self._library)

    # --- uncertainty ----------------------------------------------------------------------
    @property
    def total_benefit_ci(self) -> tuple[float, float] | None:
        """Interval of the total benefit of this allocation (``None`` without uncertainty).

        With ``benefit_se`` (independent normal errors): ``total ± z·sqrt(Σ_served se_i²)``.
        With ``benefit_draws``: percentiles of ``Σ_served draw_i`` over the draws. The
        selection is held fixed; because it was chosen on the point estimates, the realised
        benefit tends to fall below the estimate (the optimiser's curse).
        """
        return self._interval(self._sol.x.astype(float))

    @property
    def price_of_fairness_ci(self) -> tuple[float, float] | None:
        """Interval of the benefit difference between the unconstrained and this allocation.

        Paired: only people served by exactly one of the two contribute. Unlike the point
        estimate it may extend below 0 (the allocations were chosen on point estimates).
        """
        return self._interval(self._ref.x.astype(float) - self._sol.x.astype(float))

    def _interval(self, weights: np.ndarray) -> tuple[float, float] | None:
        prob = self._prob
        alpha = 1 - self.config["ci"]
        if prob.se is not None:
            centre = float(weights @ prob.benefit)
            half = float(NormalDist().inv_cdf(1 - alpha / 2) * np.sqrt((weights**2) @ prob.se**2))
            return centre - half, centre + half
        if prob.draws is not None:
            totals = weights @ prob.draws
            low, high = np.quantile(totals, [alpha / 2, 1 - alpha / 2])
            return float(low), float(high)
        return None

    def _group_interval(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        prob = self._prob
        if prob.se is None and prob.draws is None:
            return None
        lows, highs = [], []
        for g in range(prob.n_groups):
            interval = self._interval((x & (prob.codes == g)).astype(float))
            assert interval is not None  # None only without se and draws, excluded above
            lows.append(interval[0])
            highs.append(interval[1])
        return np.array(lows), np.array(highs)

    # --- export ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready Python objects (schema ``evenhand.allocation/1``)."""
        from evenhand import __version__

        out = {
            "schema": SCHEMA, "evenhand_version": __version__,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "config": jsonable(self.config), "rows": self._prob.n,
            "status": self.status, "method": self.method, "served": self.served,
            "capacity_used": self.capacity_used, "total_benefit": self.total_benefit,
            "unconstrained_benefit": self.unconstrained_benefit,
            "price_of_fairness": self.price_of_fairness,
            "relative_price_of_fairness": jsonable(self.relative_price_of_fairness),
            "total_benefit_ci": jsonable(self.total_benefit_ci),
            "price_of_fairness_ci": jsonable(self.price_of_fairness_ci),
            "groups": records(self._group_frame(self._sol, self._rule)),
        }
        if self._compare is not None:
            out["compare"] = records(self._compare_frame())
        return out

    def to_json(self, path: str | Path | None = None, *, indent: int | None = 2) -> str:
        """Serialise :meth:`to_dict` as JSON (``NaN`` written as ``null``); write to ``path``."""
        return dump_json(self.to_dict(), path, indent=indent)

    def chart(self) -> Any:
        """Altair chart of service rate by group (per rule when ``compare`` was given).

        With ``compare``, a second panel shows each rule's total benefit. Needs the ``report``
        extra (``pip install evenhand[report]``).
        """
        from evenhand._allocate._chart import allocation_chart

        return allocation_chart(self)

    def _repr_html_(self) -> str:
        summary = (f"<p><b>{self._rule.name}</b> (tolerance {self._rule.tolerance:g}): served "
                   f"{self.served}, total benefit {self.total_benefit:.6g}, price of fairness "
                   f"{self.price_of_fairness:.6g}, {self.method}, {self.status}</p>")
        return summary + self._group_frame(self._sol, self._rule)._repr_html_()

    def __repr__(self) -> str:
        return (f"Allocation(rule={self._rule.name!r}, tolerance={self._rule.tolerance!r}, "
                f"served={self.served}, total_benefit={self.total_benefit:.6g}, "
                f"price_of_fairness={self.price_of_fairness:.6g}, status={self.status!r})")


def _price(prob: Problem, ref: Solution, sol: Solution) -> float:
    # The rule only removes options, so with both optimal the difference is ≥ 0 up to the
    # rounding of the sums, which is clipped. (If a MILP stopped early, ``sol`` is still
    # feasible for capacity alone, so the best known unconstrained value is the larger one.)
    diff = float(prob.benefit[ref.x].sum() - prob.benefit[sol.x].sum())
    return max(diff, 0.0)


def _out(frame: pl.DataFrame, library: str) -> Any:
    return frame.to_pandas() if library == "pandas" else frame
