"""The :class:`Decomposition` result: totals, tidy frames, a dict and a waterfall chart."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from evenhand._core._frame import output_like
from evenhand._core._json import jsonable, records
from evenhand._decompose._estimates import Estimates, interval

__all__ = ["Decomposition"]

_FRAME_COLUMNS = [
    "contribution",
    "se",
    "ci_low",
    "ci_high",
    "share",
    "share_ci_low",
    "share_ci_high",
    "se_delta",
]


class Decomposition:
    """Where a gap in mean outcome between two groups comes from.

    Produced by :func:`evenhand.decompose`; not meant to be built directly.

    Attributes
    ----------
    gap : float
        ``mean(outcome | A) - mean(outcome | B)`` (weighted if weights were given), where
        ``groups = (A, B)``.
    explained, unexplained : float
        The twofold parts; they add up to ``gap``. For a threefold decomposition,
        ``explained`` is ``endowments`` and ``unexplained`` is
        ``coefficients + interaction`` (the twofold split with group B's coefficients).
    endowments, coefficients, interaction : float or None
        The threefold parts (``None`` for a twofold decomposition).
    overall, by_factor, by_variable : DataFrame
        Tidy frames (in the input's library) with one row per component (and factor group, or
        variable level) and the columns ``contribution``, ``se``, ``ci_low``, ``ci_high``,
        ``share`` (= contribution / gap; ``nan`` when the gap is 0), ``share_ci_low``,
        ``share_ci_high`` and ``se_delta`` (delta-method standard error; for Fairlie only on
        the explained parts, given the coefficients' uncertainty alone).
    groups : tuple
        The two group values ``(A, B)``.
    means : dict
        Mean outcome per group.
    n : dict
        Rows used per group; ``n_dropped`` rows had a missing value and were dropped.

    Notes
    -----
    ``se`` and the intervals come from the bootstrap when ``n_boot > 0`` (percentile
    intervals, replicates with a singular regression left out), else from the delta method
    (normal intervals; Shapley has none, Fairlie's leave out the regressors' sampling
    variation, as Fairlie 2005 and Stata's ``fairlie`` do).
    Fairlie reports the unexplained part as a total only; Shapley reports factor groups only
    (``by_variable`` is empty).

    Examples
    --------
    >>> import evenhand as eh
    >>> data = {"y": [1.0, 2.0, 3.5, 2.0, 2.5, 4.5, 5.0, 6.5],
    ...         "g": ["a", "a", "a", "a", "b", "b", "b", "b"],
    ...         "x": [0.0, 1.0, 2.0, 1.5, 1.0, 2.0, 3.0, 3.5]}
    >>> res = eh.decompose(data, outcome="y", group="g", factors={"f": ["x"]},
    ...                    reference="a", n_boot=0)
    >>> round(res.gap, 4), round(res.explained, 4), round(res.unexplained, 4)
    (-2.5, -1.3929, -1.1071)
    >>> res.to_dict()["groups"]
    ['a', 'b']
    """

    def __init__(self, est: Estimates, info: dict[str, Any], data: Any) -> None:
        self._est = est
        self._info = info
        self._data = data
        se, lo, hi = interval(est, info["confidence_level"])
        self._table = self._build_table(est, se, lo, hi, info["confidence_level"])
        value = dict(
            zip(
                [(lab.component, lab.kind) for lab in est.labels if lab.kind in ("gap", "total")],
                [
                    v
                    for lab, v in zip(est.labels, est.value, strict=True)
                    if lab.kind in ("gap", "total")
                ],
                strict=True,
            )
        )
        self.gap = float(value[("gap", "gap")])
        self.method: str = info["method"]
        self.kind: str = info["kind"]
        self.reference: Any = info["reference"]
        self.groups: tuple[Any, Any] = info["groups"]
        self.n: dict[Any, int] = info["n"]
        self.n_dropped: int = info["n_dropped"]
        self.means = {
            lab.name: float(v)
            for lab, v in zip(est.labels, est.value, strict=True)
            if lab.kind == "mean"
        }
        self.endowments = self.coefficients = self.interaction = None
        if self.kind == "threefold":
            self.endowments = float(value[("endowments", "total")])
            self.coefficients = float(value[("coefficients", "total")])
            self.interaction = float(value[("interaction", "total")])
            self.explained = self.endowments
            self.unexplained = self.coefficients + self.interaction
        else:
            self.explained = float(value[("explained", "total")])
            self.unexplained = float(value[("unexplained", "total")])

    @staticmethod
    def _build_table(
        est: Estimates, se: np.ndarray, lo: np.ndarray, hi: np.ndarray, level: float
    ) -> pl.DataFrame:
        gap_i = est.index("gap", "gap")
        gap = est.value[gap_i]
        with np.errstate(divide="ignore", invalid="ignore"):
            share = est.value / gap if gap != 0 else np.full_like(est.value, np.nan)
            if est.boot is not None and est.boot.shape[0] > 1:
                ratio = est.boot / est.boot[:, gap_i : gap_i + 1]
                alpha = (1.0 - level) / 2
                s_lo, s_hi = np.nanquantile(ratio, [alpha, 1 - alpha], axis=0)
            else:
                s_lo = s_hi = np.full_like(est.value, np.nan)
        delta = est.delta_se if est.delta_se is not None else np.full_like(est.value, np.nan)
        return pl.DataFrame(
            {
                "component": [lab.component for lab in est.labels],
                "kind": [lab.kind for lab in est.labels],
                "factor": [lab.factor for lab in est.labels],
                "variable": [
                    None if lab.kind != "variable" else str(lab.name) for lab in est.labels
                ],
                "level": [None if lab.level is None else str(lab.level) for lab in est.labels],
                "contribution": est.value,
                "se": se,
                "ci_low": lo,
                "ci_high": hi,
                "share": share,
                "share_ci_low": s_lo,
                "share_ci_high": s_hi,
                "se_delta": delta,
            },
            strict=False,
        ).with_columns(pl.col(_FRAME_COLUMNS).fill_nan(None))

    def _frame(self, kind: str, keys: list[str]) -> pl.DataFrame:
        table = self._table.filter(pl.col("kind").is_in(kind.split("|")))
        return table.select([*keys, *_FRAME_COLUMNS])

    @property
    def overall(self) -> Any:
        """The gap and each component's total, one row each."""
        return output_like(self._frame("gap|total", ["component"]), self._data)

    @property
    def by_factor(self) -> Any:
        """Each component split by factor group (``(intercept)`` holds the constant's part)."""
        return output_like(self._frame("factor", ["component", "factor"]), self._data)

    @property
    def by_variable(self) -> Any:
        """Each component split by variable (and category level, normalised per Yun 2005)."""
        frame = self._frame("variable", ["component", "factor", "variable", "level"])
        return output_like(frame, self._data)

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain Python values (JSON-serialisable; ``nan`` becomes ``None``)."""
        return {
            "method": self.method,
            "kind": self.kind,
            "reference": jsonable(self.reference),
            "groups": [jsonable(g) for g in self.groups],
            "means": {str(k): v for k, v in self.means.items()},
            "n": {str(k): v for k, v in self.n.items()},
            "n_dropped": self.n_dropped,
            "gap": self.gap,
            "explained": self.explained,
            "unexplained": self.unexplained,
            "endowments": self.endowments,
            "coefficients": self.coefficients,
            "interaction": self.interaction,
            "overall": records(self._frame("gap|total", ["component"])),
            "by_factor": records(self._frame("factor", ["component", "factor"])),
            "by_variable": records(
                self._frame("variable", ["component", "factor", "variable", "level"])
            ),
            **{k: jsonable(v) for k, v in self._info.items() if k in _EXTRA_INFO},
        }

    def _waterfall_steps(self) -> list[dict[str, Any]]:
        first = "endowments" if self.kind == "threefold" else "explained"
        rest = ["coefficients", "interaction"] if self.kind == "threefold" else ["unexplained"]
        factors = self._table.filter(
            (pl.col("component") == first)
            & (pl.col("kind") == "factor")
            & (pl.col("contribution").abs() > 0)
        )
        totals = self._table.filter(pl.col("kind") == "total")
        steps = [
            {"label": f"{first}: {r['factor']}", "part": first, **r} for r in factors.to_dicts()
        ]
        steps += [
            {"label": c, "part": c, **r}
            for c in rest
            for r in totals.filter(pl.col("component") == c).to_dicts()
        ]
        gap = self._table.filter(pl.col("kind") == "gap").row(0, named=True)
        steps.append({"label": "gap", "part": "gap", **gap})
        end = 0.0
        for step in steps:
            start = 0.0 if step["part"] == "gap" else end
            step["start"], step["end"] = start, start + step["contribution"]
            end = step["end"]
            for side in ("ci_low", "ci_high"):  # the interval drawn where the bar ends
                ci = step.get(side)
                step[f"{side}_end"] = None if ci is None else start + ci
        return [{k: jsonable(v) for k, v in s.items()} for s in steps]

    def chart(self) -> Any:
        """Return a waterfall chart (altair) from 0 to the gap through each part.

        Explained (or endowments) contributions are shown per factor group, then the
        remaining components, then the gap itself. Requires ``altair``
        (``pip install evenhand[report]``).
        """
        try:
            import altair as alt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "Decomposition.chart needs altair: pip install evenhand[report]"
            ) from exc
        steps = self._waterfall_steps()
        order = [s["label"] for s in steps]
        a, b = self.groups
        base = alt.Chart(alt.Data(values=steps)).encode(
            x=alt.X("label:N", sort=order, title=None, axis=alt.Axis(labelAngle=-30))
        )
        bars = base.mark_bar().encode(
            y=alt.Y("start:Q", title=f"gap in mean outcome ({a} - {b})"),
            y2="end:Q",
            color=alt.Color("part:N", title="component"),
            tooltip=["label:N", "contribution:Q", "ci_low:Q", "ci_high:Q", "share:Q"],
        )
        whiskers = base.mark_rule(color="black").encode(y="ci_low_end:Q", y2="ci_high_end:Q")
        level = round(100 * self._info["confidence_level"])
        return (bars + whiskers).properties(
            title=f"Decomposition of the gap ({self.method}, {self.kind}; {level}% intervals)",
            width=max(240, 60 * len(steps)),
        )

    def __repr__(self) -> str:
        parts = (
            f"endowments={self.endowments:.4g}, coefficients={self.coefficients:.4g}, "
            f"interaction={self.interaction:.4g}"
            if self.kind == "threefold"
            else f"explained={self.explained:.4g}, unexplained={self.unexplained:.4g}"
        )
        a, b = self.groups
        return f"Decomposition({self.method}, {a!r} - {b!r}: gap={self.gap:.4g}, {parts})"


_EXTRA_INFO = ("n_boot", "seed", "confidence_level")
