"""The ``evenhand audit`` command: real files in, readable tables and files out."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from evenhand.cli import main


@pytest.fixture
def scores_csv(tmp_path):
    rng = np.random.default_rng(0)
    n = 2000
    score = rng.random(n)
    df = pl.DataFrame({
        "race": rng.choice(["a", "b", "c"], n),
        "sex": rng.choice(["F", "M"], n),
        "label": (rng.random(n) < score).astype(int),
        "score": score,
    })
    path = tmp_path / "scores.csv"
    df.write_csv(path)
    return path


def test_audit_prints_tables_and_writes_json(scores_csv, tmp_path, capsys):
    out = tmp_path / "audit.json"
    code = main(["audit", str(scores_csv), "--y-true", "label", "--y-score", "score",
                 "--threshold", "0.5", "--sensitive", "race,sex", "--json", str(out),
                 "--n-boot", "100"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "Fairness definitions across race" in printed
    assert "equalized odds" in printed
    data = json.loads(out.read_text())
    assert data["schema"] == "evenhand.audit/1"
    assert data["rows"] == 2000


def test_parquet_and_ndjson_inputs(scores_csv, tmp_path, capsys):
    df = pl.read_csv(scores_csv)
    for suffix, writer in ((".parquet", df.write_parquet), (".ndjson", df.write_ndjson)):
        path = tmp_path / f"scores{suffix}"
        writer(path)
        code = main(["audit", str(path), "--y-true", "label", "--y-score", "score",
                     "--threshold", "0.5", "--sensitive", "race", "--n-boot", "0"])
        assert code == 0
    assert "Groups by race" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--y-true", "nope", "--y-pred", "label", "--sensitive", "race"], "Column 'nope'"),
    (["--y-true", "label", "--y-score", "score", "--sensitive", "race"], "threshold"),
    (["--y-true", "label", "--y-pred", "label", "--sensitive", "race", "--ci-method", "x"],
     "ci_method"),
])
def test_bad_input_exits_2_with_one_line(scores_csv, capsys, args, message):
    code = main(["audit", str(scores_csv), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_file_exits_2(tmp_path, capsys):
    code = main(["audit", str(tmp_path / "absent.csv"), "--y-true", "y", "--y-pred", "p",
                 "--sensitive", "g"])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err


def test_demo_runs_end_to_end(data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EVENHAND_DATA_DIR", str(data_dir))
    code = main(["demo", "--out-dir", str(tmp_path)])
    assert code == 0
    assert (tmp_path / "report.html").stat().st_size > 0
    data = json.loads((tmp_path / "audit.json").read_text())
    fpr = {(r["race"], r["sex"]): r["value"] for r in data["metrics"]
           if r["metric"] == "fpr" and r["by"] == "race"}
    assert round(fpr[("African-American", None)], 4) == 0.4485
    assert "report.html" in capsys.readouterr().out
