"""Vega-Lite charts (altair) of an audit, each paired with the table it draws.

Every builder returns a :class:`Figure`: the chart, the same numbers as a table (shown beside
the chart for screen readers and print) and a one-line caption. Charts carry only
aggregates (rates, counts, curve points), never a row of the data. Colours follow the
Okabe–Ito palette, which stays distinguishable with the common colour-vision deficiencies;
groups are also told apart by point shape, and pass/fail by text, never by colour alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from evenhand._core._errors import EvenhandError
from evenhand._core._levels import Level
from evenhand.report import _curves

__all__ = [
    "CHART_NAMES",
    "PALETTE",
    "Figure",
    "audit_figures",
    "calibration_figure",
    "chart_by_name",
    "curve_levels",
    "data_bias_figure",
    "rates_figure",
    "roc_figure",
    "selection_figure",
    "sizes_figure",
    "threshold_figure",
    "tradeoff_figure",
]

# Okabe & Ito (2008), yellow moved last (low contrast on white).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000",
           "#F0E442"]
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
FAIL, PASS, NEUTRAL = "#D55E00", "#0072B2", "#999999"
HEADLINE_RATES = ("selection_rate", "tpr", "fpr", "ppv")
CHART_NAMES = ("rates", "selection_rate", "sizes", "tradeoffs", "roc", "calibration",
               "thresholds")

METRIC_LABELS = {
    "base_rate": "Base rate", "selection_rate": "Selection rate", "tpr": "True positive rate",
    "fpr": "False positive rate", "fnr": "False negative rate", "tnr": "True negative rate",
    "ppv": "Positive predictive value", "npv": "Negative predictive value",
    "fdr": "False discovery rate", "for": "False omission rate", "accuracy": "Accuracy",
    "error_rate": "Error rate", "balanced_accuracy": "Balanced accuracy", "f1": "F1 score",
    "treatment_equality": "FN / FP", "auc": "AUC", "brier": "Brier score",
    "ece": "Calibration error (ECE)", "calibration_gap": "Calibration gap",
    "mean_score": "Mean score", "mean_score_pos": "Mean score (y = 1)",
    "mean_score_neg": "Mean score (y = 0)",
}


@dataclass
class Figure:
    """A chart, the table of its numbers and a caption; ``name`` is unique in a report."""

    name: str
    title: str
    chart: Any
    table: pl.DataFrame
    caption: str = ""


def _alt() -> Any:
    try:
        import altair as alt
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "Charts need altair and vl-convert: pip install 'evenhand[report]'"
        ) from exc
    return alt


def metric_label(name: str) -> str:
    """Readable name of a metric (the name itself when unknown)."""
    return METRIC_LABELS.get(name, name.replace("_", " "))


def records(frame: pl.DataFrame, digits: int = 4) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: floats rounded, ``nan``/``inf`` as ``None``."""
    out = []
    for row in frame.iter_rows(named=True):
        clean = {}
        for k, v in row.items():
            if isinstance(v, float):
                v = round(v, digits) if math.isfinite(v) else None
            clean[k] = v
        out.append(clean)
    return out


def _data(frame: pl.DataFrame, store: dict[str, list]) -> Any:
    """Register ``frame`` in ``store`` and refer to it by name.

    The values then live once, in the top-level ``datasets`` of the chart, instead of being
    deep-copied by altair at every layer, encoding and facet (the slow part of building).
    """
    values = records(frame)
    key = "d" + hashlib.sha1(json.dumps(values).encode()).hexdigest()[:16]
    store[key] = values
    return _alt().NamedData(name=key)


def finish(chart: Any, store: dict[str, list] | None = None) -> Any:
    """Apply the report's theme (palette, local fonts only) and attach the datasets."""
    # One shallow copy with the whole config: each chart.configure_*() deep-copies the chart.
    chart = chart.copy(deep=False)
    chart.config = {
        "font": FONT, "range": {"category": PALETTE}, "view": {"stroke": None},
        "axis": {"labelFontSize": 11, "titleFontSize": 12, "labelLimit": 260},
        "legend": {"labelFontSize": 11, "titleFontSize": 12, "labelLimit": 260},
        "header": {"labelFontSize": 12, "titleFontSize": 12, "labelFontWeight": "bold"},
    }
    if store:
        chart.datasets = dict(store)
    return chart


def reading_order(audit: Any) -> list[Level]:
    """Return the audit's groupings with each column alone first, then intersections."""
    return sorted(audit.levels, key=lambda lv: len(lv.attrs))


def _param_name(prefix: str, by: str) -> str:
    return prefix + "_" + re.sub(r"\W+", "_", by).strip("_")


def group_labels(level: Level, min_group_size: int) -> list[str]:
    """Group labels with their size, marking small groups, e.g. ``"Asian (n=32)"``."""
    return [f"{label} (n={int(n):,})" + (" ⚠" if n < min_group_size else "")
            for label, n in zip(level.labels(), level.count, strict=True)]


# ---------------------------------------------------------------- per-group rates


def _rates_frame(levels: Sequence[Level], metrics: Sequence[str], overall: Level,
                 min_group_size: int) -> pl.DataFrame:
    rows = []
    for level in levels:
        labels = group_labels(level, min_group_size)
        for name in metrics:
            if name not in level.names:
                continue
            m = level.index(name)
            for g, label in enumerate(labels):
                rows.append({
                    "grouping": level.by, "group": label, "metric": metric_label(name),
                    "value": float(level.value[m, g]), "ci_low": float(level.low[m, g]),
                    "ci_high": float(level.high[m, g]), "count": int(level.count[g]),
                    "small": bool(level.count[g] < min_group_size),
                    "everyone": float(overall.value[overall.index(name), 0]),
                })
    return pl.DataFrame(rows)


RATE_METRICS = frozenset({"base_rate", "selection_rate", "tpr", "fpr", "fnr", "tnr", "ppv",
                          "npv", "fdr", "for", "accuracy", "error_rate", "balanced_accuracy",
                          "f1", "auc", "ece", "calibration_gap"})


def _rates_panel(frame: pl.DataFrame, order: list[str], rates: bool, mgs: int,
                 store: dict[str, list]) -> Any:
    """One grouping: a column of bars per metric."""
    alt = _alt()
    x = alt.X("value:Q", title=None,
              scale=alt.Scale(domain=[0, 1]) if rates else alt.Scale(zero=True, nice=True))
    y = alt.Y("group:N", title=None, sort=None)
    opacity = alt.Opacity("small:N", scale=alt.Scale(domain=[False, True], range=[0.9, 0.35]),
                          legend=alt.Legend(title=f"Fewer than {mgs} people",
                                            labelExpr="datum.label == 'true' ? 'yes' : 'no'"))
    tip = ["group:N", "metric:N", alt.Tooltip("value:Q", format=".3f"),
           alt.Tooltip("ci_low:Q", format=".3f", title="CI low"),
           alt.Tooltip("ci_high:Q", format=".3f", title="CI high"), "count:Q"]
    base = alt.Chart()
    bars = base.mark_bar(color=PASS, height={"band": 0.7}).encode(
        x=x, y=y, opacity=opacity, tooltip=tip)
    whiskers = base.mark_rule(color="#222222", strokeWidth=1.5).encode(
        x="ci_low:Q", x2="ci_high:Q", y=y)
    everyone = base.mark_rule(color="#222222", strokeDash=[4, 3]).encode(x="mean(everyone):Q")
    layered = alt.layer(bars, whiskers, everyone, data=_data(frame, store)).properties(
        width=170, height=alt.Step(18))
    grouping = frame["grouping"][0]
    return layered.facet(
        column=alt.Column("metric:N", title=grouping, sort=order,
                          header=alt.Header(titleAnchor="start", titleFontSize=13)),
    ).resolve_scale(x="independent" if not rates else "shared")


def rates_figure(audit: Any, levels: Sequence[Level] | None = None,
                 metrics: Sequence[str] = HEADLINE_RATES, name: str = "rates") -> Figure:
    """Bars of each metric per group, with interval whiskers and everyone's value (dashed).

    One row of panels per grouping (intersection, then each column), one panel per metric.
    """
    alt = _alt()
    store: dict[str, list] = {}
    levels = list(reading_order(audit) if levels is None else levels)
    metrics = [m for m in metrics if m in audit.levels[0].names]
    mgs = audit.config["min_group_size"]
    frame = _rates_frame(levels, metrics, audit._overall, mgs)
    order = [metric_label(m) for m in metrics]
    rates = all(m in RATE_METRICS for m in metrics)
    panels = [_rates_panel(frame.filter(pl.col("grouping") == lv.by), order, rates, mgs, store)
              for lv in levels]
    chart = panels[0] if len(panels) == 1 else alt.VConcatChart(vconcat=panels)
    table = frame.select(
        pl.col("grouping").alias("Grouping"), pl.col("group").alias("Group"),
        pl.col("metric").alias("Metric"), pl.col("value").alias("Value"),
        pl.col("ci_low").alias("CI low"), pl.col("ci_high").alias("CI high"),
        pl.col("everyone").alias("Everyone"))
    ci = round(audit.config["ci"] * 100)
    title = "Rates by group" if rates else ", ".join(order) + " by group"
    return Figure(
        name=name, title=title, chart=finish(chart, store), table=table,
        caption=(f"Bars: each group's value; whiskers: {ci}% confidence interval; dashed line: "
                 f"everyone together. Faded bars are groups of fewer than {mgs} people, "
                 "whose values are uncertain."),
    )


# ---------------------------------------------------------------- selection rate


def _by_grouping(layered: Any, levels: Sequence[Level]) -> Any:
    """One row of bars per grouping, each with its own groups on the y axis."""
    alt = _alt()
    return layered.properties(width=420, height=alt.Step(18)).facet(
        row=alt.Row("grouping:N", title=None, sort=[lv.by for lv in levels],
                    header=alt.Header(labelAngle=0, labelAlign="left", labelOrient="top")),
    ).resolve_scale(y="independent")


def selection_figure(audit: Any, levels: Sequence[Level] | None = None) -> Figure:
    """Draw the selection rate per group with the four-fifths band ``[0.8·max, max]`` shaded.

    A group whose bar ends left of the band is selected at under 80% of the rate of the most
    selected group: the four-fifths rule of the US EEOC's Uniform Guidelines.
    """
    alt = _alt()
    store: dict[str, list] = {}
    levels = list(reading_order(audit) if levels is None else levels)
    mgs = audit.config["min_group_size"]
    frame = _rates_frame(levels, ["selection_rate"], audit._overall, mgs)
    frame = frame.with_columns(
        pl.col("value").max().over("grouping").alias("band_high"),
    ).with_columns(
        (0.8 * pl.col("band_high")).alias("band_low"),
    ).with_columns(
        pl.when(pl.col("value") >= pl.col("band_low")).then(pl.lit("within four-fifths"))
        .otherwise(pl.lit("below four-fifths")).alias("rule"),
    )
    y = alt.Y("group:N", title=None, sort=None)
    base = alt.Chart()
    band = base.mark_rect(color="#009E73", opacity=0.18).encode(
        x=alt.X("min(band_low):Q", title="Selection rate"), x2="max(band_high):Q")
    bars = base.mark_bar(height={"band": 0.7}).encode(
        x="value:Q", y=y,
        opacity=alt.Opacity("small:N", scale=alt.Scale(domain=[False, True], range=[0.9, 0.35]),
                            legend=alt.Legend(title=f"Fewer than {mgs} people", labelExpr=(
                                "datum.label == 'true' ? 'yes' : 'no'"))),
        color=alt.Color("rule:N", title="Four-fifths rule",
                        scale=alt.Scale(domain=["within four-fifths", "below four-fifths"],
                                        range=[PASS, FAIL])),
        tooltip=["group:N", alt.Tooltip("value:Q", format=".3f"),
                 alt.Tooltip("band_low:Q", format=".3f", title="80% of highest"), "rule:N"])
    whiskers = base.mark_rule(color="#222222", strokeWidth=1.5).encode(
        x="ci_low:Q", x2="ci_high:Q", y=y)
    chart = _by_grouping(alt.layer(band, bars, whiskers, data=_data(frame, store)), levels)
    table = frame.select(
        pl.col("grouping").alias("Grouping"), pl.col("group").alias("Group"),
        pl.col("value").alias("Selection rate"), pl.col("ci_low").alias("CI low"),
        pl.col("ci_high").alias("CI high"), pl.col("band_low").alias("80% of highest"),
        pl.col("rule").alias("Four-fifths rule"))
    note = ""
    if audit.config.get("favorable") == "negative":
        note = (" Here being selected is unfavourable, so the four-fifths comparison of "
                "the rates of not being selected matters too (see the table).")
    return Figure(
        name="selection_rate", title="Selection rate and the four-fifths rule",
        chart=finish(chart, store), table=table,
        caption=("Shaded band: from 80% of the highest group's selection rate to the highest. "
                 "Bars ending left of it fail the four-fifths rule; whiskers are confidence "
                 "intervals." + note),
    )


# ---------------------------------------------------------------- group sizes


def sizes_figure(audit: Any, levels: Sequence[Level] | None = None) -> Figure:
    """Draw the number of people per group, the ``min_group_size`` line, small groups flagged."""
    alt = _alt()
    store: dict[str, list] = {}
    levels = list(reading_order(audit) if levels is None else levels)
    mgs = audit.config["min_group_size"]
    rows = []
    for level in levels:
        for label, n in zip(level.labels(), level.count, strict=True):
            rows.append({"grouping": level.by, "group": label, "count": int(n),
                         "size": f"fewer than {mgs}" if n < mgs else f"{mgs} or more"})
    frame = pl.DataFrame(rows)
    y = alt.Y("group:N", title=None, sort=None)
    base = alt.Chart()
    bars = base.mark_bar(height={"band": 0.7}).encode(
        x=alt.X("count:Q", title="People"), y=y,
        color=alt.Color("size:N", title="Group size",
                        scale=alt.Scale(domain=[f"{mgs} or more", f"fewer than {mgs}"],
                                        range=[PASS, FAIL])),
        tooltip=["group:N", "count:Q"])
    labels = base.mark_text(align="left", dx=3, fontSize=10).encode(
        x="count:Q", y=y, text=alt.Text("count:Q", format=","))
    limit = base.mark_rule(color="#222222", strokeDash=[4, 3]).encode(x=alt.datum(mgs))
    chart = _by_grouping(alt.layer(bars, labels, limit, data=_data(frame, store)), levels)
    table = frame.select(pl.col("grouping").alias("Grouping"), pl.col("group").alias("Group"),
                         pl.col("count").alias("People"), pl.col("size").alias("Size"))
    return Figure(name="sizes", title="Group sizes", chart=finish(chart, store), table=table,
                  caption=(f"Dashed line: {mgs} people (min_group_size). Rates of smaller "
                           "groups have wide intervals; do not read much into them."))


# ---------------------------------------------------------------- trade-offs


def tradeoff_rows(level: Level, min_group_size: int) -> pl.DataFrame:
    """Return base rate, PPV, FPR and FNR per group (the quantities of Chouldechova's identity)."""
    names = ("base_rate", "ppv", "fpr", "fnr", "selection_rate")
    idx = {n: level.index(n) for n in names}
    frame = pl.DataFrame({
        "group": level.labels(),
        "count": np.asarray(level.count, dtype=np.int64),
        **{n: level.value[i] for n, i in idx.items()},
    })
    return frame.with_columns(small=pl.col("count") < min_group_size)


def implied_fpr(base_rate: np.ndarray, ppv: float, fnr: np.ndarray) -> np.ndarray:
    """Chouldechova's identity ``FPR = p/(1−p) · (1−PPV)/PPV · (1−FNR)``.

    ``nan`` where ``p`` is 0 or 1 or ``PPV`` is 0.
    """
    p = np.asarray(base_rate, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = p / (1 - p) * (1 - ppv) / ppv * (1 - np.asarray(fnr, dtype=float))
    return np.where(np.isfinite(out), out, np.nan)


def tradeoff_figure(audit: Any, level: Level) -> Figure:
    """Each group's (FNR, FPR) and the line it would have to lie on at a common PPV.

    With a common PPV (everyone's PPV), group ``g``'s rates must satisfy
    ``FPR = p_g/(1−p_g) · (1−PPV)/PPV · (1−FNR)``: lines of different slopes when base rates
    ``p_g`` differ, meeting only where nobody is selected (FNR = 1, FPR = 0).
    """
    alt = _alt()
    store: dict[str, list] = {}
    mgs = audit.config["min_group_size"]
    rows = tradeoff_rows(level, mgs)
    if rows.filter(~pl.col("small")).height >= 2:  # else draw the small groups, as such
        rows = rows.filter(~pl.col("small"))
    if rows.height > len(PALETTE):
        rows = rows.sort("count", descending=True).head(len(PALETTE))
    ppv = float(audit._overall.value[audit._overall.index("ppv"), 0])
    fnr = np.linspace(0, 1, 21)
    lines = pl.DataFrame({
        "group": np.repeat(rows["group"].to_list(), len(fnr)),
        "fnr": np.tile(fnr, rows.height),
        "fpr": np.concatenate([implied_fpr(p, ppv, fnr) for p in rows["base_rate"]]),
    }).filter(pl.col("fpr") <= 1)
    color = _color(level)
    line = alt.Chart(_data(lines, store)).mark_line(strokeDash=[5, 3]).encode(
        x=alt.X("fnr:Q", title="False negative rate", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("fpr:Q", title="False positive rate", scale=alt.Scale(domain=[0, 1])),
        color=color)
    points = alt.Chart(_data(rows, store)).mark_point(filled=True, size=90).encode(
        x="fnr:Q", y="fpr:Q", color=color, shape=alt.Shape("group:N", legend=None),
        tooltip=["group:N", alt.Tooltip("base_rate:Q", format=".3f"),
                 alt.Tooltip("ppv:Q", format=".3f"), alt.Tooltip("fpr:Q", format=".3f"),
                 alt.Tooltip("fnr:Q", format=".3f")])
    chart = alt.layer(line, points).properties(width=340, height=300)
    table = rows.select(
        pl.col("group").alias("Group"), pl.col("count").alias("People"),
        pl.col("base_rate").alias("Base rate"), pl.col("ppv").alias("PPV"),
        pl.col("fpr").alias("FPR"), pl.col("fnr").alias("FNR"),
        pl.Series("FPR if PPV were equal", implied_fpr(rows["base_rate"].to_numpy(), ppv,
                                                       rows["fnr"].to_numpy())),
    )
    return Figure(
        name=_param_name("tradeoffs", level.by), title=f"Error-rate trade-off ({level.by})",
        chart=finish(chart, store), table=table,
        caption=(f"Points: each group's observed error rates. Dashed lines: the error rates a "
                 f"group could have if its PPV equalled everyone's ({ppv:.2f}), given its base "
                 "rate. Lines with different slopes cross only at FNR = 1, FPR = 0 (nobody "
                 "selected)."),
    )


# ---------------------------------------------------------------- data bias

DATA_BIAS_SHOWN = {"CI": "Class imbalance (CI)",
                   "DPL": "Difference in positive labels (DPL)"}


def data_bias_figure(frame: pl.DataFrame, sensitive: Sequence[str]) -> Figure:
    """Draw pre-training label bias (``evenhand.data_bias`` output) per group and grouping.

    Bars show class imbalance ``(n_a − n_d)/(n_a + n_d)`` and the difference in positive
    label proportions ``q_a − q_d`` of each group ``d`` against everyone else ``a``; the
    table holds every metric.
    """
    alt = _alt()
    store: dict[str, list] = {}
    present = [c for c in sensitive if c in frame.columns]
    label = pl.concat_str([pl.col(c).cast(pl.String) for c in present], separator=" & ",
                          ignore_nulls=True)
    frame = frame.with_columns(label.alias("group"))
    shown = frame.filter(pl.col("metric").is_in(list(DATA_BIAS_SHOWN))).with_columns(
        pl.col("metric").replace_strict(DATA_BIAS_SHOWN).alias("metric"))
    groupings = sorted(dict.fromkeys(frame["by"].to_list()), key=lambda b: b.count(" & "))
    bars = alt.Chart().mark_bar(color=PASS, height={"band": 0.7}).encode(
        x=alt.X("value:Q", title=None, scale=alt.Scale(domain=[-1, 1])),
        y=alt.Y("group:N", title=None, sort=None),
        tooltip=["group:N", "metric:N", alt.Tooltip("value:Q", format=".3f")])
    zero = alt.Chart().mark_rule(color="#222222").encode(x=alt.datum(0))
    panels = [
        alt.layer(bars, zero, data=_data(shown.filter(pl.col("by") == by), store))
        .properties(width=260, height=alt.Step(18))
        .facet(column=alt.Column("metric:N", title=by, sort=list(DATA_BIAS_SHOWN.values()),
                                 header=alt.Header(titleAnchor="start", titleFontSize=13)))
        for by in groupings
    ]
    chart = panels[0] if len(panels) == 1 else alt.VConcatChart(vconcat=panels)
    table = frame.select("by", "group", "metric", "value",
                         *[c for c in ("n_d", "n_a", "positive_d", "positive_a", "flag")
                           if c in frame.columns])
    return Figure(
        name="data_bias", title="Bias in the labels, before any model", chart=finish(chart, store),
        table=table,
        caption=("Each group d against everyone else a. CI > 0: the group is smaller than the "
                 "rest; DPL > 0: the rest has a larger share of positive labels. The table "
                 "adds KL, JS, LP, TVD, KS and conditional demographic disparity."))


# ---------------------------------------------------------------- score curves


def curve_levels(audit: Any) -> list[Level]:
    """Return the groupings that get score curves: each sensitive column alone."""
    single = [lv for lv in audit.levels if len(lv.attrs) == 1]
    return single or list(audit.levels[:1])


def _color(level: Level) -> Any:
    """Colour by group with the same colour for a group in every chart of its grouping."""
    alt = _alt()
    keep = np.arange(len(level.count))
    if keep.size > _curves.MAX_CURVE_GROUPS:  # the same groups grouped_histogram keeps
        keep = np.sort(np.argsort(-np.asarray(level.count), kind="stable")[:len(PALETTE)])
    labels = [level.labels()[k] for k in keep]
    return alt.Color("group:N", title=level.by,
                     scale=alt.Scale(domain=labels, range=PALETTE[:len(labels)]))


def _drawn(audit: Any, level: Level, hist: _curves.GroupedHistogram) -> list[str]:
    """Return the groups drawn as curves: those with at least ``min_group_size`` people."""
    mgs = audit.config["min_group_size"]
    return [lab for lab, n in zip(hist.labels, hist.count, strict=True) if n >= mgs]


def _kept_note(audit: Any, level: Level, hist: _curves.GroupedHistogram) -> str:
    drawn = _drawn(audit, level, hist)
    left = [lab for lab in level.labels() if lab not in drawn]
    if not left:
        return ""
    return (f" Not drawn (fewer than {audit.config['min_group_size']} people, or beyond the "
            f"{len(PALETTE)} largest groups): {', '.join(left)}; see the table.")


def roc_figure(audit: Any, level: Level) -> Figure:
    """ROC curve per group (true vs false positive rate over every threshold)."""
    alt = _alt()
    store: dict[str, list] = {}
    hist = _curves.grouped_histogram(audit.stats, level)
    frame = _curves.roc_table(hist)
    diag = alt.Chart(_data(pl.DataFrame({"x": [0.0, 1.0]}), store)).mark_line(
        color=NEUTRAL, strokeDash=[3, 3]).encode(x="x:Q", y="x:Q")
    drawn = frame.filter(pl.col("group").is_in(_drawn(audit, level, hist)))
    curve = alt.Chart(_data(drawn, store)).mark_line(strokeWidth=2).encode(
        x=alt.X("fpr:Q", title="False positive rate", scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("tpr:Q", title="True positive rate", scale=alt.Scale(domain=[0, 1])),
        color=_color(level), strokeDash=alt.StrokeDash("group:N", legend=None),
        order="fpr:Q",
        tooltip=["group:N", alt.Tooltip("threshold:Q", title="score ≥"),
                 alt.Tooltip("fpr:Q", format=".3f"), alt.Tooltip("tpr:Q", format=".3f")])
    chart = alt.layer(diag, curve).properties(width=300, height=300)
    auc = ""
    if "auc" in level.names:
        m = level.index("auc")
        auc = " AUC: " + ", ".join(f"{lab} {level.value[m, g]:.2f}"
                                   for g, lab in enumerate(level.labels())
                                   if lab in hist.labels) + "."
    table = frame.select(pl.col("group").alias("Group"), pl.col("threshold").alias("Score ≥"),
                         pl.col("fpr").alias("FPR"), pl.col("tpr").alias("TPR"))
    return Figure(
        name=_param_name("roc", level.by), title=f"ROC curves ({level.by})",
        chart=finish(chart, store), table=table,
        caption=("Each point is one decision threshold. A curve further up-left separates "
                 "people with and without the outcome better; dotted: chance." + auc
                 + _kept_note(audit, level, hist)))


def calibration_figure(audit: Any, level: Level) -> Figure:
    """Observed outcome rate per score value (or tenth of the score range), per group."""
    alt = _alt()
    store: dict[str, list] = {}
    hist = _curves.grouped_histogram(audit.stats, level)
    frame = _curves.calibration_table(hist, audit.config["ci"])
    probability = hist.probability
    tenth = "[0, 1]" if hist.probability else "the range"
    x_title = "Score" if hist.discrete else f"Score (centre of each tenth of {tenth})"
    color = _color(level)
    x = alt.X("score:Q", title=x_title, scale=alt.Scale(zero=False))
    drawn = frame.filter(pl.col("group").is_in(_drawn(audit, level, hist)))
    base = alt.Chart(_data(drawn, store))
    line = base.mark_line(point=True).encode(
        x=x, y=alt.Y("positive_rate:Q", title="Observed outcome rate",
                      scale=alt.Scale(domain=[0, 1])),
        color=color, shape=alt.Shape("group:N", legend=None),
        tooltip=["group:N", "score:Q", alt.Tooltip("positive_rate:Q", format=".3f"),
                 alt.Tooltip("count:Q", format=",.0f")])
    bars = base.mark_rule(opacity=0.6).encode(x=x, y="ci_low:Q", y2="ci_high:Q", color=color)
    layers = [bars, line]
    if probability:
        diag = alt.Chart(_data(pl.DataFrame({"x": [0.0, 1.0]}), store)).mark_line(
            color=NEUTRAL, strokeDash=[3, 3]).encode(x="x:Q", y="x:Q")
        layers.insert(0, diag)
    chart = alt.layer(*layers).properties(width=340, height=300)
    table = frame.select(pl.col("group").alias("Group"), pl.col("score").alias("Score"),
                         pl.col("count").alias("People"),
                         pl.col("positive_rate").alias("Outcome rate"),
                         pl.col("ci_low").alias("CI low"), pl.col("ci_high").alias("CI high"))
    what = ("Calibrated scores follow the dotted diagonal. " if probability else
            "The score is not a probability, so there is no diagonal to meet; ")
    return Figure(
        name=_param_name("calibration", level.by), title=f"Calibration ({level.by})",
        chart=finish(chart, store), table=table,
        caption=(what + "a score means the same for every group when the curves coincide. "
                 "Vertical bars: confidence intervals." + _kept_note(audit, level, hist)))


def _threshold_start(audit: Any, thresholds: np.ndarray) -> float:
    t = audit.config.get("threshold")
    if t is None:
        return float(thresholds[len(thresholds) // 2])
    below = thresholds[thresholds <= t]
    return float(below[-1]) if below.size else float(thresholds[0])


def threshold_figure(audit: Any, level: Level) -> Figure:
    """Threshold explorer: selection rate, TPR and FPR per group as the threshold moves.

    A slider sets the threshold; the dots and the read-out below show each group's rates at
    ``score ≥ threshold``. Computed from the per-group score histograms only.
    """
    alt = _alt()
    store: dict[str, list] = {}
    hist = _curves.grouped_histogram(audit.stats, level)
    frame = _curves.threshold_table(hist)
    thresholds = np.unique(frame["threshold"].to_numpy())
    nxt = dict(zip(thresholds[:-1].tolist(), thresholds[1:].tolist(), strict=True))
    frame = frame.with_columns(
        pl.col("threshold").replace_strict(nxt, default=float(thresholds[-1]) + 1.0)
        .alias("next"),
    ).with_columns(pl.col("threshold").round(6), pl.col("next").round(6))
    step = float(np.min(np.diff(thresholds))) if thresholds.size > 1 else 1.0
    name = _param_name("threshold", level.by)
    slider = alt.param(name=name, value=_threshold_start(audit, thresholds), bind=alt.binding_range(
        min=float(thresholds[0]), max=float(thresholds[-1]), step=round(step, 6),
        name=f"Decision threshold for {level.by} (score ≥) "))
    at = f"datum.threshold <= {name} && datum.next > {name}"
    rates = {"selection_rate": "Selection rate", "tpr": "True positive rate",
             "fpr": "False positive rate"}
    color = _color(level)
    long = frame.unpivot(list(rates), index=["group", "threshold", "next"],
                         variable_name="rate", value_name="value").with_columns(
        pl.col("rate").replace_strict(rates).alias("rate_label"))
    shown = set(_drawn(audit, level, hist))
    base = alt.Chart(_data(long.filter(pl.col("group").is_in(shown)), store))
    col = alt.Column("rate_label:N", title=None, sort=list(rates.values()))
    lines = base.mark_line(interpolate="step-after" if hist.discrete else "linear").encode(
        x=alt.X("threshold:Q", title="Threshold (score ≥)", scale=alt.Scale(zero=False)),
        y=alt.Y("value:Q", title="Rate", scale=alt.Scale(domain=[0, 1])), color=color)
    dots = base.mark_point(filled=True, size=70).encode(
        x="threshold:Q", y="value:Q", color=color, shape=alt.Shape("group:N", legend=None),
        tooltip=["group:N", "rate_label:N", alt.Tooltip("threshold:Q", title="score ≥"),
                 alt.Tooltip("value:Q", format=".3f")]).transform_filter(at)
    rule = base.mark_rule(color="#222222", strokeDash=[4, 3]).encode(
        x="threshold:Q").transform_filter(at)
    panel = alt.layer(lines, rule, dots).properties(width=190, height=180).facet(column=col)
    readout = base.transform_filter(at).mark_text(align="left", fontSize=11).encode(
        y=alt.Y("group:N", title=None, sort=hist.labels),
        x=alt.X("rate_label:N", title=None, sort=list(rates.values()),
                axis=alt.Axis(orient="top", labelAngle=0)),
        # dark text for contrast; the row label names the group
        text=alt.Text("value:Q", format=".3f"), color=alt.value("#1b1b1b"),
    ).properties(width=alt.Step(150), height=alt.Step(16))
    # add_params would try to push the slider into the faceted layers; keep it top-level.
    chart = alt.VConcatChart(vconcat=[panel, readout], params=[slider.param])
    table = frame.select(pl.col("group").alias("Group"), pl.col("threshold").alias("Score ≥"),
                         pl.col("selection_rate").alias("Selection rate"),
                         pl.col("tpr").alias("TPR"), pl.col("fpr").alias("FPR"))
    return Figure(
        name=_param_name("thresholds", level.by), title=f"Threshold explorer ({level.by})",
        chart=finish(chart, store), table=table,
        caption=("Move the slider to see each group's rates if people with a score at or "
                 "above the threshold were selected. Computed from per-group score "
                 "histograms." + _kept_note(audit, level, hist)))


# ---------------------------------------------------------------- dispatch


def audit_figures(audit: Any) -> dict[str, list[Figure]]:
    """Every figure of an audit's report, by section."""
    out: dict[str, list[Figure]] = {
        "rates": [rates_figure(audit)], "selection": [selection_figure(audit)],
        "sizes": [sizes_figure(audit)],
        "tradeoffs": [tradeoff_figure(audit, lv) for lv in curve_levels(audit)],
    }
    if audit.stats is not None and audit.stats.has_score:
        levels = curve_levels(audit)
        out["roc"] = [roc_figure(audit, lv) for lv in levels]
        out["calibration"] = [calibration_figure(audit, lv) for lv in levels]
        out["thresholds"] = [threshold_figure(audit, lv) for lv in levels]
    return out


def chart_by_name(audit: Any, name: str) -> Any:
    """Return the altair chart ``name``: a metric, or one of :data:`CHART_NAMES`."""
    if audit.config["task"] != "binary":
        return _regression_chart(audit, name)
    builders = {
        "rates": lambda: [rates_figure(audit)],
        "selection_rate": lambda: [selection_figure(audit)],
        "sizes": lambda: [sizes_figure(audit)],
        "tradeoffs": lambda: [tradeoff_figure(audit, lv) for lv in curve_levels(audit)],
        "roc": lambda: [roc_figure(audit, lv) for lv in curve_levels(audit)],
        "calibration": lambda: [calibration_figure(audit, lv) for lv in curve_levels(audit)],
        "thresholds": lambda: [threshold_figure(audit, lv) for lv in curve_levels(audit)],
    }
    if name in ("roc", "calibration", "thresholds") and not audit.stats.has_score:
        raise EvenhandError(
            f"Chart {name!r} needs scores: audit with y_score=<score column> to draw it.")
    if name in builders:
        figures = builders[name]()
    elif name in audit.levels[0].names:
        figures = [rates_figure(audit, metrics=[name], name=name)]
    else:
        options = [*CHART_NAMES, *audit.levels[0].names]
        raise EvenhandError(f"Unknown chart {name!r}; choose one of {options}.")
    return _combine([f.chart for f in figures])


def _regression_chart(audit: Any, name: str) -> Any:
    if name not in audit.levels[0].names and name != "sizes":
        raise EvenhandError(
            f"Unknown chart {name!r} for a regression audit; choose 'sizes' or one of "
            f"{audit.levels[0].names}.")
    if name == "sizes":
        return sizes_figure(audit).chart
    return rates_figure(audit, metrics=[name], name=name).chart


def _combine(charts: list[Any]) -> Any:
    if len(charts) == 1:
        return charts[0]
    alt = _alt()
    store: dict[str, list] = {}
    stripped = []
    for c in charts:  # configs and datasets live at the top level of a concatenation
        c = c.copy(deep=False)
        store.update(c.datasets if c.datasets is not alt.Undefined else {})
        c.config = alt.Undefined
        c.datasets = alt.Undefined
        stripped.append(c)
    return finish(alt.VConcatChart(vconcat=stripped).resolve_scale(color="independent"), store)
