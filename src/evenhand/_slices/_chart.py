"""A chart of :func:`evenhand.find_slices` results, for reports and notebooks."""

from __future__ import annotations

from typing import Any

import narwhals.stable.v2 as nw

from evenhand._core._frame import from_any, require_columns

__all__ = ["slices_chart"]

COLUMNS = ("slice", "size", "error", "error_ci_low", "error_ci_high", "lift", "p_value", "score")


def slices_chart(frame: Any, *, title: str = "Slices where the model errs most") -> Any:
    """Bar chart of the error of each slice with its interval, best slice on top.

    A dashed rule marks the overall error (``error / lift``). Needs ``altair``
    (``pip install evenhand[report]``), imported only when this is called.

    Parameters
    ----------
    frame : DataFrame-like
        A result of :func:`find_slices` (pandas or polars).
    title : str
        Chart title.

    Returns
    -------
    altair.LayerChart

    Examples
    --------
    >>> import polars as pl
    >>> table = pl.DataFrame({"slice": ["sex == 'F'"], "size": [40], "error": [0.5],
    ...     "error_ci_low": [0.35], "error_ci_high": [0.65], "lift": [2.5],
    ...     "p_value": [0.01], "score": [0.3]})
    >>> from evenhand._slices._slices import slices_chart
    >>> chart = slices_chart(table)
    >>> len(chart.to_dict()["layer"])  # bars, interval whiskers, overall error
    3
    """
    try:
        import altair as alt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("slices_chart needs altair: pip install 'evenhand[report]'") from exc
    native = from_any(frame)
    if isinstance(native, nw.LazyFrame):
        native = native.collect(backend="polars")
    table = native.to_polars()
    require_columns(nw.from_native(table), {"frame": list(COLUMNS)})
    records = table.select(list(COLUMNS)).to_dicts()
    order = [r["slice"] for r in records]
    data = alt.Data(values=records)
    y = alt.Y("slice:N", sort=order, title=None)
    tooltip = [alt.Tooltip(f"{c}:{'N' if c == 'slice' else 'Q'}") for c in COLUMNS]
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(x=alt.X("error:Q", title="mean error in slice"), y=y, tooltip=tooltip)
    )
    whiskers = (
        alt.Chart(data)
        .mark_rule(color="black")
        .encode(x="error_ci_low:Q", x2="error_ci_high:Q", y=y)
    )
    layers = [bars, whiskers]
    overall = [r["error"] / r["lift"] for r in records if r["lift"]]
    if overall:
        rule = (
            alt.Chart(alt.Data(values=[{"overall": overall[0]}]))
            .mark_rule(strokeDash=[4, 4], color="black")
            .encode(x="overall:Q")
        )
        layers.append(rule)
    return alt.layer(*layers).properties(title=title)
