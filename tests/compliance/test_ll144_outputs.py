"""LL144 HTML summary and the ``evenhand ll144`` command."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from evenhand.cli import app, main
from evenhand.compliance import ll144_audit


@pytest.fixture
def decisions(tmp_path):
    df = pl.DataFrame({"sex": ["M", "F"] * 50, "race": ["W"] * 60 + ["A"] * 40,
                       "hired": [1, 0, 1, 1] * 25})
    path = tmp_path / "decisions.csv"
    df.write_csv(path)
    (tmp_path / "race.json").write_text(json.dumps({"W": "White", "A": "Asian"}))
    (tmp_path / "sex.json").write_text(json.dumps({"M": "Male", "F": "Female"}))
    return path


def test_html_is_self_contained_with_summary_facts():
    df = pl.DataFrame({"sex": ["Male", "Female"] * 5, "race": ["White"] * 5 + ["Asian"] * 5,
                       "y": [1, 0] * 5})
    res = ll144_audit(df, sex="sex", race="race", selected="y", audit_date="2026-03-01",
                      data_source="ATS export", data_kind="test",
                      test_data_explanation="no historical data yet")
    html = res.to_html()
    for fact in ("2026-03-01", "ATS export", "test data", "no historical data yet",
                 "Individuals assessed</dt><dd>10", "§5-301"):
        assert fact in html
    assert "http" not in html
    assert "<script" not in html


def test_cli_json_round_trip(decisions, tmp_path):
    out, page = tmp_path / "out.json", tmp_path / "out.html"
    code = main(["ll144", str(decisions), "--sex", "sex", "--race", "race", "--selected",
                 "hired", "--race-map", str(tmp_path / "race.json"), "--sex-map",
                 str(tmp_path / "sex.json"), "--json", str(out), "--html", str(page)])
    assert code == 0
    payload = json.loads(out.read_text())
    sex = {r["category"]: r for r in payload["tables"]["sex"]}
    assert sex["Male"]["rate"] == 1.0
    assert sex["Female"]["impact_ratio"] == 0.5
    assert payload["data_source"] == "decisions.csv"
    assert "Bias audit summary" in page.read_text()


def test_cli_bad_input_exits_2(decisions, capsys):
    code = main(["ll144", str(decisions), "--sex", "sex", "--race", "race", "--selected",
                 "hired"])
    assert code == 2
    assert "sex_map" in capsys.readouterr().err


def test_cli_runner_help():
    result = CliRunner().invoke(app, ["ll144", "--help"])
    assert result.exit_code == 0
    assert "--selected" in result.output
