"""The COMPAS report opened in headless Chromium: offline, error-free, every chart drawn."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import evenhand
from evenhand.report import render_audit

WORDING = {
    "people": "defendants", "outcome": "reoffended within two years",
    "no_outcome": "did not reoffend within two years",
    "selected": "labelled medium or high risk", "not_selected": "labelled low risk",
}


@pytest.fixture(scope="module")
def compas(compas_csv: Path) -> pl.DataFrame:
    df = pl.read_csv(compas_csv, infer_schema_length=10000)
    return df.with_columns(
        pl.col("score_text").is_in(["Medium", "High"]).cast(pl.Int64).alias("high_risk"))


def _audit(df: pl.DataFrame, **kwargs):
    return evenhand.audit(df, y_true="two_year_recid", sensitive=["race", "sex"], seed=0,
                          reference="Caucasian", **kwargs)


def _render(result, path: Path, **kwargs) -> Path:
    path.write_text(render_audit(result, source="ProPublica COMPAS two-year recidivism",
                                 wording=WORDING, **kwargs), encoding="utf-8")
    return path


def _shot_dir() -> Path:
    out = Path(tempfile.gettempdir()) / "evenhand-report-screenshots"
    out.mkdir(exist_ok=True)
    return out


def _check_page(report, expected_charts: int) -> None:
    assert report.requests == [], f"network requests attempted: {report.requests}"
    assert report.console_errors == [], f"console errors: {report.console_errors}"
    assert report.state["errors"] == []
    assert report.state["expected"] == expected_charts
    assert report.state["rendered"] == expected_charts
    assert len(report.charts) == expected_charts
    for chart in report.charts:
        assert chart["rendered"], chart
        assert chart["width"] > 50, chart
        assert chart["height"] > 50, chart
        assert chart["marks"] > 10, chart
        assert "The numbers are in the table below the chart" in (chart["label"] or ""), chart


def test_compas_decision_report_in_chromium(browser, compas, tmp_path):
    result = _audit(compas, y_pred="high_risk")
    bias = evenhand.data_bias(compas, y_true="two_year_recid", sensitive=["race", "sex"])
    path = _render(result, tmp_path / "compas.html", data_bias=bias)
    report = browser.open(path)
    # rates, selection, trade-offs for race and for sex, group sizes, data bias
    _check_page(report, expected_charts=6)
    assert "Bias in the labels, before any model" in report.text
    text = report.text
    assert "Fairness summary" in text
    assert ("Among defendants who did not reoffend within two years, African-American "
            "defendants were labelled medium or high risk 1.9× as often as Caucasian "
            "defendants (45% vs 23%).") in text
    assert "Chouldechova" in text
    assert "Kleinberg" in text
    shot = browser.screenshot(_shot_dir() / "compas-decision.png")
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000
    pdf = browser.pdf()
    assert pdf.startswith(b"%PDF")
    assert len(pdf) > 10_000


def test_compas_score_report_in_chromium(browser, compas, tmp_path):
    result = _audit(compas, y_score="decile_score", threshold=5)
    path = _render(result, tmp_path / "compas-score.html")
    report = browser.open(path)
    # rates, selection, thresholds ×2, ROC ×2, calibration ×2, trade-offs ×2, sizes
    _check_page(report, expected_charts=11)
    assert "Threshold explorer" in report.text
    assert "The score is not a probability" in report.text
    shot = browser.screenshot(_shot_dir() / "compas-score.png")
    print(f"screenshot: {shot}")


def test_threshold_slider_moves_the_readout(browser, compas, tmp_path):
    result = _audit(compas, y_score="decile_score", threshold=5)
    path = _render(result, tmp_path / "compas-slider.html")
    report = browser.open(path)
    assert report.state["rendered"] == report.state["expected"]
    readout = """
    (function () {
      var el = document.querySelector('[id^="chart-thresholds-race"]');
      return Array.from(el.querySelectorAll('text')).map(t => t.textContent).join('|');
    })()"""
    before = browser.evaluate(readout)
    moved = browser.evaluate("""
    new Promise(function (resolve) {
      var el = document.querySelector('[id^="chart-thresholds-race"] input[type=range]');
      el.value = 8; el.dispatchEvent(new Event('input', {bubbles: true}));
      setTimeout(function () { resolve(el.value); }, 300);
    })""")
    after = browser.evaluate(readout)
    assert moved == "8"
    assert before != after
    # at score >= 8 the African-American selection rate read from the histogram
    df = compas.filter(pl.col("race") == "African-American")
    expected = float(np.mean(df["decile_score"].to_numpy() >= 8))
    assert f"{expected:.3f}" in after.split("|")
    assert json.loads(json.dumps(report.console_errors)) == []


def test_probability_score_report_in_chromium(browser, tmp_path):
    """Continuous scores in [0, 1]: bin-edge thresholds, a calibration diagonal, a slider."""
    rng = np.random.default_rng(0)
    n = 20_000
    group = rng.choice(["north", "south", "east"], size=n, p=[0.5, 0.3, 0.2])
    y = (rng.random(n) < np.where(group == "south", 0.45, 0.3)).astype(int)
    score = 1 / (1 + np.exp(-(rng.normal(size=n) + 1.5 * y - 1)))
    df = pl.DataFrame({"y": y, "p": score, "region": group})
    result = evenhand.audit(df, y_true="y", y_score="p", threshold=0.5, sensitive="region",
                            seed=0)
    path = tmp_path / "probability.html"
    result.to_html(path)
    report = browser.open(path)
    # rates, selection, thresholds, ROC, calibration, trade-offs, sizes
    _check_page(report, expected_charts=7)
    assert "Calibrated scores follow the dotted diagonal" in report.text
    moved = browser.evaluate("""
    new Promise(function (resolve) {
      var el = document.querySelector('[id^="chart-thresholds"] input[type=range]');
      el.value = el.max; el.dispatchEvent(new Event('input', {bubbles: true}));
      setTimeout(function () { resolve(el.value); }, 300);
    })""")
    assert float(moved) > 0.5
    errors = browser.evaluate("JSON.stringify(window.__evenhand.errors)")
    assert errors == "[]"


def test_other_results_as_sections_in_chromium(browser, compas, tmp_path):
    """Decomposition and allocation results (``.chart()``) render as report sections."""
    from evenhand.report import render_sections

    two = compas.filter(pl.col("race").is_in(["African-American", "Caucasian"]))
    decomposition = evenhand.decompose(
        two, outcome="two_year_recid", group="race",
        factors={"history": ["priors_count"], "age": ["age"]}, n_boot=50, seed=0)
    allocation = evenhand.allocate(
        compas.with_columns(benefit=pl.col("decile_score").cast(pl.Float64)),
        benefit="benefit", group="race", capacity=1000)
    path = tmp_path / "sections.html"
    path.write_text(render_sections("Other results", [
        ("Decomposition of the recidivism gap", decomposition, decomposition.by_factor),
        ("Allocation of 1,000 places", allocation),
    ]), encoding="utf-8")
    report = browser.open(path)
    assert report.requests == []
    assert report.console_errors == []
    assert report.state["rendered"] == report.state["expected"] == 2
    assert all(c["width"] > 50 and c["height"] > 50 for c in report.charts)
