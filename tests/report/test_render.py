"""The HTML report: self-contained, aggregate-only, bounded in size; extra sections; charts."""

from __future__ import annotations

import json
import re

import altair as alt
import numpy as np
import pandas as pd
import polars as pl
import pytest

import evenhand
from evenhand import EvenhandError
from evenhand.report import audit_repr_html, render_audit, render_sections, table_html
from evenhand.report._charts import CHART_NAMES
from evenhand.report._render import MAX_INLINE_VALUES

SPEC_RE = re.compile(r'<script type="application/json" data-chart="[^"]+">(.*?)</script>', re.S)


def _data(n: int, seed: int = 0, label: str | None = None) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    race = rng.choice(["A", "B", "C", "D", "E", "F"], size=n, p=[.4, .3, .15, .1, .04, .01])
    sex = rng.choice(["F", "M"], size=n)
    shift = (race == "B") * 0.5 + (sex == "M") * 0.3
    y = (rng.random(n) < 0.35 + 0.1 * shift).astype(np.int8)
    score = 1 / (1 + np.exp(-(rng.normal(size=n) + y - shift)))
    if label is not None:
        race = np.where(race == "F", label, race)
    return pl.DataFrame({"row_id": np.arange(10_000_019, 10_000_019 + n), "y": y,
                         "score": score, "race": race, "sex": sex})


def _audit(df, **kwargs):
    kwargs.setdefault("y_score", "score")
    if kwargs["y_score"] is not None:
        kwargs.setdefault("threshold", 0.5)
    return evenhand.audit(df, y_true="y", sensitive=["race", "sex"], seed=0, n_boot=200,
                          **kwargs)


def _render(result, **kwargs) -> str:
    return render_audit(result, **kwargs)


def _specs(page: str) -> list[dict]:
    return [json.loads(s) for s in SPEC_RE.findall(page)]


def _inline_values(spec) -> int:
    if isinstance(spec, dict):
        own = len(spec["values"]) if isinstance(spec.get("values"), list) else 0
        if isinstance(spec.get("datasets"), dict):
            own += sum(len(v) for v in spec["datasets"].values())
        return own + sum(_inline_values(v) for v in spec.values())
    if isinstance(spec, list):
        return sum(_inline_values(v) for v in spec)
    return 0


@pytest.fixture(scope="module")
def small_page() -> tuple[pl.DataFrame, str]:
    df = _data(20_000)
    return df, _render(_audit(df), source="synthetic")


@pytest.mark.slow
def test_large_audit_report_stays_small_and_independent_of_rows(small_page):
    _, small = small_page
    big = _render(_audit(_data(2_000_000, seed=1)), source="synthetic")
    size = len(big.encode("utf-8"))
    assert size < 3 * 1024 * 1024, size
    # the embedded chart data does not grow with the rows
    count_small = sum(_inline_values(s) for s in _specs(small))
    count_big = sum(_inline_values(s) for s in _specs(big))
    assert count_big <= 1.1 * count_small
    print(f"report of a 2e6-row audit: {size / 1e6:.2f} MB")


def test_no_row_level_values_are_embedded(small_page):
    df, page = small_page
    for value in df["score"].sample(300, seed=0).to_list():
        assert f"{value:.7f}" not in page
        assert repr(value) not in page
    for row_id in df["row_id"].head(50).to_list() + df["row_id"].tail(50).to_list():
        assert str(row_id) not in page


def test_page_is_self_contained(small_page):
    _, page = small_page
    assert "Content-Security-Policy" in page
    assert "default-src 'none'" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", page)
    assert "@import" not in page
    assert page.count("<script") == len(_specs(page)) + 2  # specs, bundle, renderer
    assert "window.vegaEmbed" in page


def test_header_and_sections(small_page):
    _, page = small_page
    for text in ("synthetic", "20,000", "race &amp; sex (12 groups)", "score ≥ 0.5",
                 "Fairness summary", "Threshold explorer", "ROC curves", "Calibration",
                 "Trade-offs between definitions", "Group sizes", "Chouldechova",
                 "fewer than 30 people", "evenhand " + evenhand.__version__):
        assert text in page, text


def test_every_chart_spec_is_valid_vega_lite(small_page):
    import vl_convert as vlc

    _, page = small_page
    specs = _specs(page)
    assert len(specs) == 11
    for spec in specs:
        vega = vlc.vegalite_to_vega(spec)
        assert vega["marks"]


def test_group_labels_cannot_break_out_of_the_page():
    evil = "</script><script>alert(1)</script><b>x"
    page = _render(_audit(_data(5000, label=evil)))
    assert evil not in page
    assert "<script>alert(1)" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in page  # escaped in tables and text
    assert len(_specs(page)) == 11  # the JSON specs still parse


def test_decision_only_report_has_no_score_charts():
    df = _data(5000).with_columns(pred=(pl.col("score") > 0.5).cast(pl.Int8))
    page = _render(_audit(df, y_pred="pred", y_score=None))
    assert "ROC curves" not in page
    assert "Threshold explorer" not in page
    assert len(_specs(page)) == 5


def test_regression_report():
    rng = np.random.default_rng(0)
    df = pl.DataFrame({"y": rng.normal(size=500), "p": rng.normal(size=500),
                       "g": rng.choice(["a", "b"], size=500)})
    result = evenhand.audit(df, y_true="y", y_pred="p", sensitive="g", seed=0)
    page = render_audit(result)
    assert "Errors by group" in page
    assert len(_specs(page)) == 2
    assert "<table" in audit_repr_html(result)


def test_to_html_writes_the_file(tmp_path):
    result = _audit(_data(3000))
    text = result.to_html(tmp_path / "r.html")
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == text


def test_wording_reaches_the_sentences():
    page = _render(_audit(_data(3000)), wording={"people": "applicants",
                                                 "selected": "flagged"})
    assert "applicants were flagged" in page


# ---------------------------------------------------------------- extra sections


class _Result:
    """Stands for another module's result: ``.chart()`` and ``.to_frame()``."""

    def chart(self):
        return alt.Chart(pd.DataFrame({"k": ["a", "b"], "v": [1, 2]})).mark_bar().encode(
            x="k:N", y="v:Q")

    def to_frame(self):
        return pd.DataFrame({"k": ["a", "b"], "v": [1, 2]})


def test_extra_sections_are_added():
    chart = alt.Chart(pd.DataFrame({"x": [1, 2, 3]})).mark_point().encode(x="x:Q")
    page = _render(_audit(_data(3000)), extra_sections=[
        ("Decomposition", chart, pl.DataFrame({"factor": ["age"], "share": [0.4]})),
        ("Notes", "<p class='note'>hand-written</p>"),
        {"title": "Allocation", "content": _Result(), "text": "How places were shared."},
    ])
    assert len(_specs(page)) == 13
    for text in ("Decomposition", "factor", "<p class='note'>hand-written</p>",
                 "Allocation", "How places were shared."):
        assert text in page


def test_render_sections_standalone():
    page = render_sections("Mitigation trade-off", [("Frontier", _Result())],
                           subtitle="accuracy vs parity")
    assert page.startswith("<!doctype html>")
    assert len(_specs(page)) == 1
    assert "accuracy vs parity" in page
    assert "window.vegaEmbed" in page


def test_sections_without_charts_skip_the_bundle():
    page = render_sections("Tables", [("Counts", None, {"a": [1, 2]})])
    assert "vegaEmbed" not in page
    assert "<table>" in page


def test_url_data_is_refused():
    chart = alt.Chart("https://example.org/data.csv").mark_point().encode(x="x:Q")
    with pytest.raises(EvenhandError, match=r"loads data from a URL \('https://example.org"):
        render_sections("r", [("Remote", chart)])


def test_row_level_sized_data_is_refused():
    frame = pd.DataFrame({"x": np.arange(MAX_INLINE_VALUES + 1)})
    chart = alt.Chart(frame).mark_point().encode(x="x:Q")
    with (alt.data_transformers.disable_max_rows(),
          pytest.raises(EvenhandError, match="reports hold aggregates only")):
        render_sections("r", [("Rows", chart)])


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("just a string", "Each extra section must be"),
        (("", "<p>x</p>"), "A section title must be a non-empty string; got ''"),
        (("Bad", 42), "content must be an altair chart, an HTML string"),
    ],
)
def test_bad_sections(section, message):
    with pytest.raises(EvenhandError, match=re.escape(message)):
        render_sections("r", [section])


def test_table_html_formats_and_escapes():
    html = table_html(pd.DataFrame({"g": ["<a>"], "n": [12345], "r": [0.123456],
                                    "m": [float("nan")]}))
    assert "&lt;a&gt;" in html
    assert "12,345" in html
    assert "0.123" in html
    assert "—" in html
    assert '<th scope="col">g</th>' in html


# ---------------------------------------------------------------- notebook charts


@pytest.fixture(scope="module")
def scored():
    return _audit(_data(5000))


@pytest.mark.parametrize("name", [*CHART_NAMES, "fpr", "auc"])
def test_audit_chart_names(scored, name):
    chart = scored.chart(name)
    spec = chart.to_dict()
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")


def test_audit_chart_errors(scored):
    with pytest.raises(EvenhandError, match=r"Unknown chart 'nope'; choose one of \['rates'"):
        scored.chart("nope")
    df = _data(500).with_columns(pred=(pl.col("score") > 0.5).cast(pl.Int8))
    decisions = _audit(df, y_pred="pred", y_score=None)
    with pytest.raises(EvenhandError, match="Chart 'roc' needs scores: audit with y_score="):
        decisions.chart("roc")


def test_notebook_view(scored):
    html = scored._repr_html_()
    assert "Fairness summary" in html
    assert "Demographic parity" in html
    assert "<svg" in html
    assert "<script" not in html


def test_bundle_is_cached_on_disk(tmp_path, monkeypatch):
    from evenhand.report import javascript_bundle

    monkeypatch.setenv("EVENHAND_CACHE_DIR", str(tmp_path / "cache"))
    javascript_bundle.cache_clear()
    try:
        first = javascript_bundle()
        files = list((tmp_path / "cache").glob("vega-embed-*.js"))
        assert len(files) == 1
        assert files[0].read_text("utf-8") == first
        javascript_bundle.cache_clear()
        assert javascript_bundle() == first
        assert "window.vegaEmbed" in first
        assert "</script" not in first.lower()
    finally:
        javascript_bundle.cache_clear()


@pytest.mark.slow
def test_unwritable_cache_is_skipped(tmp_path, monkeypatch):
    from evenhand.report import javascript_bundle

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("EVENHAND_CACHE_DIR", str(blocker / "sub"))
    javascript_bundle.cache_clear()
    try:
        assert "window.vegaEmbed" in javascript_bundle()
    finally:
        javascript_bundle.cache_clear()


def test_data_bias_section():
    df = _data(4000)
    bias = evenhand.data_bias(df, y_true="y", sensitive=["race", "sex"])
    page = _render(_audit(df), data_bias=bias.to_pandas())
    assert "Bias in the labels, before any model" in page
    assert len(_specs(page)) == 12
    assert "Difference in positive labels (DPL)" in page


def _edge_case(name: str) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    n = 300
    if name == "all_groups_small":
        return pl.DataFrame({"y": rng.integers(0, 2, 40), "s": rng.random(40),
                             "g": rng.choice(["a", "b", "c", "d"], 40)})
    score = {"constant_score": np.full(n, 0.5), "one_class": rng.random(n),
             "unbounded_score": rng.normal(size=n) * 100}[name]
    y = np.ones(n, dtype=int) if name == "one_class" else rng.integers(0, 2, n)
    return pl.DataFrame({"y": y, "s": score, "g": rng.choice(["a", "b"], n)})


@pytest.mark.parametrize("name", ["all_groups_small", "constant_score", "one_class",
                                  "unbounded_score"])
def test_edge_cases_render_valid_charts(name):
    import vl_convert as vlc

    df = _edge_case(name)
    result = evenhand.audit(df, y_true="y", y_score="s", threshold=float(df["s"].median()),
                            sensitive="g", seed=0, n_boot=100)
    page = render_audit(result)
    specs = _specs(page)
    assert len(specs) == 7
    for spec in specs:
        assert vlc.vegalite_to_vega(spec)["marks"]


def test_single_group_audit_renders():
    rng = np.random.default_rng(0)
    df = pl.DataFrame({"y": rng.integers(0, 2, 100), "s": rng.random(100), "g": ["a"] * 100})
    result = evenhand.audit(df, y_true="y", y_score="s", threshold=0.5, sensitive="g",
                            seed=0, n_boot=100)
    assert "Fairness summary" in render_audit(result)
