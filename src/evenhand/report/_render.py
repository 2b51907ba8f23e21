"""Self-contained HTML reports: audit reports and generic reports of sections.

The page inlines its stylesheet, the Vega and Vega-Lite JavaScript from vl-convert's bundle
and each chart's Vega-Lite specification; a Content-Security-Policy forbids any request, so
it opens offline and never phones home. Charts hold only aggregates; a chart whose data is a
URL, or whose inline data is large enough to be row-level, is refused.
"""

from __future__ import annotations

import datetime as _dt
import functools
import html
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from evenhand._core._errors import EvenhandError
from evenhand._core._levels import Level
from evenhand.report import _charts, _text
from evenhand.report._charts import Figure, metric_label

__all__ = ["audit_chart", "audit_repr_html", "javascript_bundle", "render_audit",
           "render_sections", "table_html"]

BUNDLE_SNIPPET = "window.vegaEmbed = vegaEmbed;"
MAX_INLINE_VALUES = 50_000  # cells of inline chart data; beyond this it looks row-level
DEFINITION_TITLES = {
    "demographic_parity": "Demographic parity", "disparate_impact": "Disparate impact",
    "equal_opportunity": "Equal opportunity", "predictive_equality": "Predictive equality",
    "equalized_odds": "Equalized odds", "error_rate_balance": "Error-rate balance",
    "predictive_parity": "Predictive parity", "accuracy_parity": "Accuracy parity",
    "treatment_equality": "Treatment equality", "calibration": "Calibration",
}
RATIO_DEFINITIONS = ("disparate_impact", "treatment_equality")
GLOSSARY = (
    "Selection rate: the share of people selected (decision = 1). True positive rate: among "
    "people with the outcome, the share selected. False positive rate: among people without "
    "the outcome, the share selected. Positive predictive value: among people selected, the "
    "share with the outcome. Base rate: the share of people with the outcome.",
    "Between-groups difference = highest group value − lowest; ratio = lowest / highest. "
    "Intervals are simultaneous over all pairs of groups, so they stay honest with many "
    "groups.",
)


# ---------------------------------------------------------------- assets


def _asset(name: str) -> str:
    return (resources.files("evenhand.report") / "templates" / name).read_text("utf-8")


@functools.lru_cache(maxsize=1)
def javascript_bundle() -> str:
    """Return Vega, Vega-Lite and Vega-Embed as one inline script (from vl-convert).

    Only ``window.vegaEmbed`` is exported: vl-convert's bundle exposes no usable default
    export for ``vega`` or ``vegaLite`` on their own. Building the bundle takes about 2 s, so
    it is kept in memory and in a cache file named after the vl-convert and Vega-Lite
    versions, under ``$EVENHAND_CACHE_DIR`` (default ``$XDG_CACHE_HOME/evenhand`` or
    ``~/.cache/evenhand``); an unwritable cache is skipped.
    """
    try:
        import vl_convert as vlc
    except ImportError as exc:  # pragma: no cover - only without the extra
        raise ImportError(
            "HTML reports need vl-convert: pip install 'evenhand[report]'") from exc
    version = _vegalite_version(vlc)
    # vl_convert's stub omits __version__, which the compiled module sets
    release = vlc.__version__  # type: ignore[attr-defined]
    path = _cache_dir() / f"vega-embed-{release}-vl{version or 'default'}.js"
    try:
        return path.read_text("utf-8")
    except OSError:
        pass
    bundle = _script_safe(vlc.javascript_bundle(BUNDLE_SNIPPET, vl_version=version))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(bundle, "utf-8")
        tmp.replace(path)  # atomic: readers never see half a file
    except OSError:
        pass
    return bundle


def _cache_dir() -> Path:
    if os.environ.get("EVENHAND_CACHE_DIR"):
        return Path(os.environ["EVENHAND_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "evenhand"


def _vegalite_version(vlc: Any) -> str | None:
    """Return the Vega-Lite version altair writes, when vl-convert ships it."""
    try:
        import altair as alt
    except ImportError:  # pragma: no cover
        return None
    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    return wanted if wanted in vlc.get_vegalite_versions() else None


@functools.lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    return env.from_string(_asset("report.html.j2"))


def _script_safe(text: str) -> str:
    """Make text safe inside ``<script>``: no ``</script`` or ``<!--`` can end it early."""
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE).replace("<!--", "<\\!--")


# ---------------------------------------------------------------- tables


def _cell(value: Any) -> tuple[str, bool]:
    """Return the formatted cell text and whether it is numeric."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—", True
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, int):
        return f"{value:,}", True
    if isinstance(value, float):
        if value == int(value) and abs(value) >= 1000:
            return f"{int(value):,}", True
        return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.1f}", True
    return str(value), False


def table_html(frame: Any, caption: str | None = None, max_rows: int = 2000) -> str:
    """Return an accessible HTML table (header cells with ``scope``; numbers right-aligned)."""
    frame = _as_polars(frame)
    head = "".join(f'<th scope="col">{html.escape(str(c))}</th>' for c in frame.columns)
    rows = []
    for row in frame.head(max_rows).iter_rows():
        cells = []
        for v in row:
            text, num = _cell(v)
            cells.append(f'<td class="num">{html.escape(text)}</td>' if num
                         else f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if frame.height > max_rows:
        more = f"<p>Showing the first {max_rows:,} of {frame.height:,} rows.</p>"
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
            f"</table>{more}")


def _as_polars(frame: Any) -> pl.DataFrame:
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if isinstance(frame, (Mapping, list)):
        return pl.DataFrame(frame)
    from evenhand._core._frame import from_any

    nw_frame = from_any(frame)
    if hasattr(nw_frame, "collect"):
        nw_frame = nw_frame.collect()
    return nw_frame.to_polars()


# ---------------------------------------------------------------- chart specs


def _clean(obj: Any) -> Any:
    """JSON-ready copy: non-finite floats become ``None``; numpy scalars become Python."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _check_data(spec: Any, title: str) -> None:
    """Refuse URL data (a network request) and row-level-sized inline data."""
    cells = 0
    stack = [spec]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "url" in node and ("format" in node or isinstance(node.get("url"), str)) \
                    and not isinstance(node.get("url"), dict):
                raise EvenhandError(
                    f"The chart of section {title!r} loads data from a URL "
                    f"({node['url']!r}); a report must be self-contained. Pass the data "
                    "inline (aggregated).")
            tables = [node.get("values")]
            if isinstance(node.get("datasets"), dict):  # altair's named inline data
                tables += list(node["datasets"].values())
            for values in tables:
                if isinstance(values, list):
                    cells += sum(len(v) if isinstance(v, dict) else 1 for v in values)
            stack.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))
    if cells > MAX_INLINE_VALUES:
        raise EvenhandError(
            f"The chart of section {title!r} embeds {cells:,} data values; reports hold "
            f"aggregates only (at most {MAX_INLINE_VALUES:,}). Aggregate the data first.")


def chart_json(chart: Any, title: str = "chart", validate: bool = True,
               description: str | None = None) -> str:
    """Return the chart's Vega-Lite specification as compact JSON, safe inside ``<script>``.

    ``validate=False`` skips altair's JSON-schema validation (for evenhand's own charts,
    whose specifications the test suite compiles; it is most of the time spent here).
    ``description`` becomes the drawn SVG's accessible label.
    """
    spec = chart.to_dict(validate=validate) if hasattr(chart, "to_dict") else dict(chart)
    spec = _clean(spec)
    if description and "description" not in spec:
        spec["description"] = description  # becomes the SVG's aria-label
    _check_data(spec, title)
    text = json.dumps(spec, separators=(",", ":"), allow_nan=False)
    # "<" only occurs inside JSON strings, where \u003c means the same: no tag can start.
    return text.replace("<", "\\u003c")


# ---------------------------------------------------------------- page model


@dataclass
class _Fig:
    id: str
    title: str
    caption: str = ""
    spec: str | None = None
    html: str | None = None
    table: str | None = None
    paragraphs: list[str] = field(default_factory=list)


@dataclass
class _Section:
    id: str
    title: str
    intro: list[str] = field(default_factory=list)
    html: str | None = None
    figures: list[_Fig] = field(default_factory=list)
    grid: bool = False


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    slug, i = base, 2
    while slug in taken:
        slug, i = f"{base}-{i}", i + 1
    taken.add(slug)
    return slug


def _fig(figure: Figure, taken: set[str]) -> _Fig:
    return _Fig(id=_slug(figure.name, taken), title=figure.title, caption=figure.caption,
                spec=chart_json(figure.chart, figure.title, validate=False,
                                description=f"{figure.title}. {figure.caption} The numbers "
                                            "are in the table below the chart."),
                table=table_html(figure.table, caption=figure.title))


def _is_chart(obj: Any) -> bool:
    return type(obj).__module__.startswith("altair") and hasattr(obj, "to_dict")


def _extra_section(item: Any, taken: set[str]) -> _Section:
    """Build a section from ``(title, content[, table])``; content is a chart, HTML or a result."""
    if isinstance(item, Mapping):
        title, content, table = item.get("title"), item.get("content"), item.get("table")
        intro = item.get("text")
    elif isinstance(item, Sequence) and not isinstance(item, str) and 2 <= len(item) <= 3:
        title, content = item[0], item[1]
        table = item[2] if len(item) == 3 else None
        intro = None
    else:
        raise EvenhandError(
            "Each extra section must be (title, chart_or_html[, table]) or a dict with keys "
            f"title, content, table, text; got {type(item).__name__}.")
    if not isinstance(title, str) or not title:
        raise EvenhandError(f"A section title must be a non-empty string; got {title!r}.")
    if content is not None and not _is_chart(content) and hasattr(content, "chart"):
        if table is None and hasattr(content, "to_frame"):
            table = content.to_frame()
        content = content.chart()
    sid = _slug(title, taken)
    fig = _Fig(id=_slug(sid + "-figure", taken), title=title)
    if content is None:
        pass
    elif _is_chart(content):
        fig.spec = chart_json(content, title)
    elif isinstance(content, str):
        fig.html = content
    else:
        raise EvenhandError(
            f"Section {title!r}: content must be an altair chart, an HTML string, or an object "
            f"with .chart(); got {type(content).__name__}.")
    if table is not None:
        fig.table = table_html(table, caption=title)
    paragraphs = [intro] if isinstance(intro, str) else list(intro or [])
    return _Section(id=sid, title=title, intro=paragraphs, figures=[fig])


def _page(title: str, sections: list[_Section], *, subtitle: str = "",
          facts: Sequence[tuple[str, str]] = (), glance: Sequence[str] = (),
          footer: Sequence[str] = ()) -> str:
    from evenhand import __version__

    has_charts = any(f.spec for s in sections for f in s.figures)
    return _environment().render(
        title=title, subtitle=subtitle, facts=list(facts), glance=list(glance),
        sections=sections, footer=list(footer), version=__version__,
        date=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        css=_asset("report.css"), has_charts=has_charts,
        bundle=javascript_bundle() if has_charts else "",
        js=_script_safe(_asset("report.js")) if has_charts else "",
    )


def render_sections(title: str, sections: Sequence[Any], *, subtitle: str = "",
                    text: Sequence[str] = ()) -> str:
    """Render a standalone self-contained report made of sections.

    Parameters
    ----------
    title : str
        Page title.
    sections : sequence
        Each ``(title, content)`` or ``(title, content, table)``, or a dict with keys
        ``title``, ``content``, ``table`` and ``text`` (a paragraph or a list of them).
        ``content`` is an altair chart, an HTML string, ``None``, or a result object with a
        ``.chart()`` method (its ``.to_frame()`` supplies the table when none is given);
        ``table`` is any data frame (pandas, polars, pyarrow, dict of columns).
    subtitle : str, optional
        Line under the title.
    text : sequence of str, optional
        Paragraphs shown before the sections.

    Returns
    -------
    str
        The HTML page.

    Examples
    --------
    >>> import polars as pl
    >>> from evenhand.report import render_sections
    >>> page = render_sections("Notes", [("Counts", None, pl.DataFrame({"group": ["a"],
    ...                                                                 "n": [3]}))])
    >>> "<table>" in page and page.startswith("<!doctype html>")
    True
    """
    taken: set[str] = set()
    built = [_extra_section(s, taken) for s in sections]
    return _page(title, built, subtitle=subtitle, glance=list(text))


# ---------------------------------------------------------------- audit report


def _levels_by_name(audit: Any) -> dict[str, Level]:
    """Return the groupings in reading order: each column alone first, then intersections."""
    return {lv.by: lv for lv in _charts.reading_order(audit)}


def _summary_rows(audit: Any) -> list[dict[str, Any]]:
    frame = audit.summary()
    frame = frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame)
    return frame.to_dicts()


def _badge(row: Mapping[str, Any]) -> str:
    if row["satisfied"] is None:
        return '<span class="badge unknown">? not computable</span>'
    unsure = '<span class="verdict">uncertain</span>' if row["conclusive"] is False else ""
    if row["satisfied"]:
        return '<span class="badge met">✓ met</span>' + unsure
    return '<span class="badge violated">✗ not met</span>' + unsure


def _summary_table(level: Level, rows: list[dict[str, Any]], audit: Any,
                   wording: _text.Wording) -> str:
    ci = audit.config["ci"]
    mgs = audit.config["min_group_size"]
    body = []
    for r in rows:
        ratio = r["definition"] in RATIO_DEFINITIONS
        value = r["between_groups_ratio"] if ratio else r["between_groups_difference"]
        low, high = ((r["ratio_ci_low"], r["ratio_ci_high"]) if ratio
                     else (r["difference_ci_low"], r["difference_ci_high"]))
        kind = "ratio: lowest / highest" if ratio else "difference: highest − lowest"
        shown = _cell(value)[0]
        sentence = _text.definition_sentence(level, r, mgs, wording,
                                               audit.config.get("reference"))
        verdict = _text.verdict_sentence(r, ci)
        p = r.get("p_value")
        p_text = f" Test of equal groups: p = {p:.2g}." if p is not None and np.isfinite(p) \
            else ""
        title = DEFINITION_TITLES.get(r["definition"], r["definition"])
        metrics = ", ".join(metric_label(m) for m in str(r["metric"]).split("+"))
        body.append(
            f'<tr><th scope="row">{html.escape(title)}<span class="verdict">'
            f"{html.escape(metrics)}</span></th>"
            f'<td class="num">{html.escape(shown)}<span class="verdict">{html.escape(kind)}'
            f"</span></td>"
            f'<td class="num">{html.escape(_text.format_interval(low, high))}</td>'
            f"<td>{_badge(r)}</td>"
            f'<td class="sentence">{html.escape(sentence)}<span class="verdict">'
            f"{html.escape(verdict + p_text)}</span></td></tr>")
    head = ("<tr><th scope='col'>Definition</th><th scope='col'>Between groups</th>"
            f"<th scope='col'>{ci:.0%} interval</th><th scope='col'>Verdict</th>"
            "<th scope='col'>What it means here</th></tr>")
    cap = f"Fairness definitions across {html.escape(level.by)} groups"
    return (f'<table class="summary"><caption>{cap}</caption><thead>{head}</thead>'
            f"<tbody>{''.join(body)}</tbody></table>")


def _decision_text(config: Mapping[str, Any]) -> str:
    if config.get("y_pred"):
        return str(config["y_pred"])
    return f"{config['y_score']} ≥ {config['threshold']:g}"


def _reference_text(audit: Any) -> str:
    ref = audit.config.get("reference")
    if ref is None:
        return "largest group of each grouping (" + ", ".join(
            f"{lv.by}: {lv.labels()[int(np.argmax(lv.count))]}" for lv in audit.levels) + ")"
    return str(ref)


def _facts(audit: Any, source: str | None) -> list[tuple[str, str]]:
    c = audit.config
    rows = int(audit._overall.count[0])
    facts = [("Data", source or "not named"), ("Rows", f"{rows:,}"),
             ("Groups compared", "; ".join(f"{lv.by} ({len(lv.count)} groups)"
                                           for lv in _charts.reading_order(audit))),
             ("Label", f"{c['y_true']} (positive = {c['pos_label']!r})")]
    if c["task"] == "binary":
        facts.append(("Decision", _decision_text(c)))
    else:
        facts.append(("Prediction", str(c["y_pred"])))
    if c.get("y_score"):
        facts.append(("Score", str(c["y_score"])))
    if c.get("weight"):
        facts.append(("Row weights", str(c["weight"])))
    facts += [
        ("Reference group", _reference_text(audit)),
        ("Intervals", f"{c['ci']:.0%}, " + (
            "Wilson (rates), Newcombe (differences), Katz (ratios), bootstrap otherwise"
            if c["ci_method"] == "wilson" else f"bootstrap ({c['n_boot']} replicates)")),
        ("Smallest reliable group", f"{c['min_group_size']} people"),
    ]
    return facts


def _glance(audit: Any, rows: list[dict[str, Any]]) -> list[str]:
    lines = []
    for lv in _levels_by_name(audit).values():
        mine = [r for r in rows if r["by"] == lv.by]
        met = [DEFINITION_TITLES.get(r["definition"], r["definition"]).lower()
               for r in mine if r["satisfied"]]
        failed = [DEFINITION_TITLES.get(r["definition"], r["definition"]).lower()
                  for r in mine if r["satisfied"] is False]
        text = f"Across {lv.by} groups, {len(met)} of {len(mine)} definitions are met"
        text += f" ({', '.join(met)})." if met else "."
        if failed:
            text += f" Not met: {', '.join(failed)}."
        lines.append(text)
    lines += _small_group_lines(audit)
    return lines


def _small_group_lines(audit: Any) -> list[str]:
    mgs = audit.config["min_group_size"]
    out = []
    for lv in _charts.reading_order(audit):
        small = [f"{lab} ({int(n)})" for lab, n in zip(lv.labels(), lv.count, strict=True)
                 if n < mgs]
        if small:
            out.append(f"⚠ {len(small)} {lv.by} group(s) have fewer than {mgs} people: "
                       f"{', '.join(small)}. Their numbers are shown but very uncertain.")
    return out


def render_audit(
    audit: Any,
    *,
    title: str = "Fairness audit",
    source: str | None = None,
    wording: _text.Wording | Mapping[str, str] | None = None,
    data_bias: Any = None,
    extra_sections: Sequence[Any] = (),
) -> str:
    """Render an audit as one self-contained HTML page (charts, tables, plain sentences).

    Parameters
    ----------
    audit : Audit
        The result of :func:`evenhand.audit`.
    title : str, default "Fairness audit"
        Page title.
    source : str, optional
        Where the data came from (shown in the header).
    wording : Wording or dict, optional
        Domain words for the sentences (keys ``people``, ``outcome``, ``no_outcome``,
        ``selected``, ``not_selected``); defaults are built from the column names.
    data_bias : DataFrame, optional
        The result of :func:`evenhand.data_bias` on the same data: adds a section on bias in
        the labels before any model.
    extra_sections : sequence, optional
        More sections (e.g. a decomposition, an allocation, bounds), each as accepted by
        :func:`render_sections`.

    Returns
    -------
    str
        The HTML page; it makes no network request and holds no row of the data.

    Examples
    --------
    >>> import polars as pl
    >>> import evenhand
    >>> from evenhand.report import render_audit
    >>> df = pl.DataFrame({"y": [1, 0, 1, 0] * 20, "pred": [1, 0, 0, 0] * 20,
    ...                    "group": ["a", "a", "b", "b"] * 20})
    >>> result = evenhand.audit(df, y_true="y", y_pred="pred", sensitive="group", seed=0)
    >>> page = render_audit(result, source="example")
    >>> "Demographic parity" in page
    True
    """
    words = _text.wording_for(audit.config, wording)
    taken: set[str] = set()
    if audit.config["task"] != "binary":
        sections = _regression_sections(audit, taken)
        rows: list[dict[str, Any]] = []
    else:
        rows = _summary_rows(audit)
        sections = _binary_sections(audit, rows, words, taken)
    if data_bias is not None:
        figure = _charts.data_bias_figure(_as_polars(data_bias), audit.config["sensitive"])
        sections.append(_Section(id=_slug("data-bias", taken), title=figure.title,
                                 figures=[_fig(figure, taken)]))
    sections += [_extra_section(s, taken) for s in extra_sections]
    subtitle = ("Which groups the decisions treat differently, by how much, and how sure "
                "the data lets us be.")
    return _page(title, sections, subtitle=subtitle, facts=_facts(audit, source),
                 glance=_glance(audit, rows), footer=GLOSSARY)


def _binary_sections(audit: Any, rows: list[dict[str, Any]], words: _text.Wording,
                     taken: set[str]) -> list[_Section]:
    figures = _charts.audit_figures(audit)
    levels = _levels_by_name(audit)
    summary = _Section(id=_slug("summary", taken), title="Fairness summary", intro=[
        "Each definition compares the groups on one rate. A definition is met when the gap "
        "between the highest and lowest group is within its tolerance; the interval says "
        "how sure that is."])
    parts = []
    for by, level in levels.items():
        mine = [r for r in rows if r["by"] == by]
        table = _summary_table(level, mine, audit, words)
        if len(level.attrs) > 1 and len(levels) > 1:
            # intersections: many small groups; folded so the single columns lead
            met = sum(bool(r["satisfied"]) for r in mine)
            parts.append(f'<details class="table"><summary>{html.escape(by)}: {met} of '
                         f"{len(mine)} definitions met (show the table)</summary>{table}"
                         "</details>")
        else:
            parts.append(f"<h3>{html.escape(by)}</h3>" + table)
    summary.html = "".join(parts)
    out = [summary]

    def add(key: str, title: str, intro: list[str], grid: bool = False) -> None:
        if key in figures:
            out.append(_Section(id=_slug(key, taken), title=title, intro=intro, grid=grid,
                                figures=[_fig(f, taken) for f in figures[key]]))

    add("rates", "Rates by group", [])
    add("selection", "Selection rate and the four-fifths rule", [])
    add("thresholds", "Threshold explorer", [
        "How each group's rates would change with another decision threshold."], grid=False)
    add("roc", "ROC curves", [], grid=True)
    add("calibration", "Calibration", [], grid=True)
    tradeoffs = _Section(id=_slug("tradeoffs", taken), title="Trade-offs between definitions",
                         intro=_text.tradeoff_intro("roc" in figures))
    for lv, figure in zip(_charts.curve_levels(audit), figures["tradeoffs"], strict=True):
        mine = [r for r in rows if r["by"] == lv.by]
        fig = _fig(figure, taken)
        fig.paragraphs = _text.tradeoff_paragraphs(
            lv, audit._overall, mine, audit.config["min_group_size"], words,
            audit.config.get("reference"))
        tradeoffs.figures.append(fig)
    out.append(tradeoffs)
    add("sizes", "Group sizes", _small_group_lines(audit) or [
        "Every group has enough people for its rates to be estimated usefully."])
    return out


def _regression_sections(audit: Any, taken: set[str]) -> list[_Section]:
    names = [m for m in ("mae", "rmse", "mean_residual", "mean_prediction")
             if m in audit.levels[0].names]
    rates = _charts.rates_figure(audit, metrics=names, name="errors")
    return [
        _Section(id=_slug("errors", taken), title="Errors by group",
                 figures=[_fig(rates, taken)]),
        _Section(id=_slug("sizes", taken), title="Group sizes",
                 intro=_small_group_lines(audit),
                 figures=[_fig(_charts.sizes_figure(audit), taken)]),
    ]


# ---------------------------------------------------------------- notebook


def audit_chart(audit: Any, name: str = "selection_rate") -> Any:
    """Return the altair chart ``name`` of an audit (a metric, or one of ``CHART_NAMES``)."""
    return _charts.chart_by_name(audit, name)


def audit_repr_html(audit: Any) -> str:
    """Notebook view: the summary table and the headline chart as inline SVG."""
    if audit.config["task"] != "binary":
        return table_html(audit.overall, caption=repr(audit))
    rows = _summary_rows(audit)
    frame = pl.DataFrame(rows).select(
        pl.col("by").alias("Grouping"),
        pl.col("definition").replace_strict(DEFINITION_TITLES, default=pl.col("definition"))
        .alias("Definition"),
        pl.col("between_groups_difference").alias("Difference"),
        pl.col("between_groups_ratio").alias("Ratio"),
        pl.col("p_value").alias("p"),
        pl.col("satisfied").replace_strict({True: "✓ met", False: "✗ not met"},
                                           default="?", return_dtype=pl.String)
        .alias("Verdict"),
    )
    parts = [f"<p><strong>{html.escape(repr(audit))}</strong></p>",
             table_html(frame, caption="Fairness summary")]
    try:
        import vl_convert as vlc

        spec = json.loads(chart_json(_charts.selection_figure(audit).chart))
        parts.append(f"<div>{vlc.vegalite_to_svg(spec)}</div>")
    except ImportError:  # pragma: no cover - charts need the report extra
        parts.append("<p>Install evenhand[report] to see the charts.</p>")
    return "<div class='evenhand-audit'>" + "".join(parts) + "</div>"
