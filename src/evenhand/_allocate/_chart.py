"""Altair chart of an :class:`~evenhand.Allocation` (altair is imported only here, lazily)."""

from __future__ import annotations

from typing import Any

import polars as pl

__all__ = ["allocation_chart"]


def _altair() -> Any:
    try:
        import altair as alt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Allocation.chart needs altair: pip install 'evenhand[report]'"
        ) from exc
    return alt


def allocation_chart(result: Any) -> Any:
    """Service rate by group (coloured by rule when compared) and total benefit by rule."""
    alt = _altair()
    groups = result._prob.group_cols
    label = pl.concat_str([pl.col(c).cast(pl.String) for c in groups], separator=" & ")
    if result._compare is None:
        frame = result._group_frame(result._sol, result._rule).with_columns(
            pl.lit(result._rule.name).alias("rule"))
    else:
        frame = pl.from_pandas(result.compare_by_group()) if result._library == "pandas" \
            else result.compare_by_group()
    frame = frame.with_columns(label.alias("group_label")).select(
        "rule", "group_label", "served", "rate", "benefit")
    rates = alt.Chart(alt.Data(values=frame.to_dicts())).mark_bar().encode(
        x=alt.X("group_label:N", title=" & ".join(groups)),
        xOffset=alt.XOffset("rule:N"),
        y=alt.Y("rate:Q", title="service rate", axis=alt.Axis(format="%")),
        color=alt.Color("rule:N", title="rule"),
        tooltip=["rule:N", "group_label:N", "served:Q", alt.Tooltip("rate:Q", format=".3f"),
                 alt.Tooltip("benefit:Q", format=".4g")],
    ).properties(title="Service rate by group", width=320, height=220)
    if result._compare is None:
        return rates
    table = result._compare_frame().filter(pl.col("total_benefit").is_not_null())
    totals = alt.Chart(alt.Data(values=table.select("rule", "total_benefit",
                                                      "price_of_fairness").to_dicts()))
    totals = totals.mark_bar().encode(
        x=alt.X("rule:N", title="rule", sort=None),
        y=alt.Y("total_benefit:Q", title="total benefit"),
        color=alt.Color("rule:N", legend=None),
        tooltip=["rule:N", alt.Tooltip("total_benefit:Q", format=".4g"),
                 alt.Tooltip("price_of_fairness:Q", format=".4g")],
    ).properties(title="Total benefit by rule", width=220, height=220)
    return alt.hconcat(totals, rates)
