from __future__ import annotations

import json
from pathlib import Path

import pytest

from evenhand.cli import main
from evenhand.datasets import make_cardiac_cohort


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    cohort = make_cardiac_cohort(3000, seed=0)
    data = tmp_path / "cohort.csv"
    cohort.frame.write_csv(data)
    factors = tmp_path / "factors.json"
    factors.write_text(json.dumps(cohort.factors))
    return data, factors


def _decompose(data: Path, factors: Path, n_boot: str, *extra: str) -> int:
    """Run ``evenhand decompose`` on the cohort's complication gap between groups."""
    return main(
        [
            "decompose",
            str(data),
            "--outcome",
            "complication",
            "--group",
            "group",
            "--factors",
            str(factors),
            "--n-boot",
            n_boot,
            *extra,
        ]
    )


def test_decompose_prints_tables_and_writes_json(files, tmp_path, capsys) -> None:
    data, factors = files
    out = tmp_path / "out.json"
    code = _decompose(data, factors, "30", "--reference", "A", "--json", str(out))
    text = capsys.readouterr().out
    assert code == 0
    assert "gap = mean(A) - mean(B)" in text
    assert "biological" in text
    assert "unexplained" in text
    result = json.loads(out.read_text())
    assert result["reference"] == "A"
    assert result["n_boot"] == 30


def test_decompose_threefold_with_group_order(files, capsys) -> None:
    data, factors = files
    code = _decompose(data, factors, "0", "--kind", "threefold", "--groups", "B,A")
    assert code == 0
    assert "gap = mean(B) - mean(A)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--reference", "C"], "--reference 'C' is not a value of the group column"),
        (["--method", "magic"], "'method' parameter of decompose must be one of"),
    ],
)
def test_decompose_bad_input_exits_2(files, capsys, extra, message) -> None:
    data, factors = files
    code = _decompose(data, factors, "0", *extra)
    assert code == 2
    assert message in capsys.readouterr().err


def test_decompose_missing_factor_column(files, tmp_path, capsys) -> None:
    data, _ = files
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"biological": ["age", "height"]}))
    code = _decompose(data, bad, "0")
    assert code == 2
    assert "Column 'height' (listed in factor group 'biological')" in capsys.readouterr().err
