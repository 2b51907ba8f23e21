"""`evenhand allocate` on files: exit codes, printed tables, written outputs."""

from __future__ import annotations

import json

import polars as pl
import pytest

from evenhand.cli import main
from evenhand.datasets import make_services_population


@pytest.fixture(scope="module")
def people_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("alloc") / "people.csv"
    make_services_population(2000, seed=5).write_csv(path)
    return path


def test_allocate_prints_groups_totals_and_comparison(people_csv, tmp_path, capsys):
    out = tmp_path / "selected.parquet"
    js = tmp_path / "alloc.json"
    code = main(["allocate", str(people_csv), "--benefit", "benefit", "--group", "group",
                 "--capacity", "10%", "--constraint", "parity", "--tolerance", "0.02",
                 "--need", "need", "--compare", "none,parity,equal_opportunity",
                 "--benefit-se", "benefit_se", "--output", str(out), "--json", str(js)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "Allocation under 'parity'" in printed
    assert "price of fairness" in printed
    assert "Rules side by side" in printed
    assert "equal" in printed.split("Rules side by side")[1]
    table = pl.read_parquet(out)
    assert table["selected"].sum() <= 200
    saved = json.loads(js.read_text())
    assert saved["served"] == table["selected"].sum()
    assert saved["config"]["capacity"] == 200.0
    rates = table.group_by("group").agg(pl.col("selected").mean())["selected"]
    assert rates.max() - rates.min() <= 0.02 + 1e-9


def test_allocate_budget_and_csv_output(people_csv, tmp_path, capsys):
    small = tmp_path / "small.csv"
    pl.read_csv(people_csv).head(80).write_csv(small)
    out = tmp_path / "sel.csv"
    code = main(["allocate", str(small), "--benefit", "benefit", "--group", "group",
                 "--capacity", "30000", "--cost", "cost", "--output", str(out)])
    assert code == 0
    table = pl.read_csv(out)
    assert table.filter(pl.col("selected"))["cost"].sum() <= 30000
    assert "milp" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--capacity", "5000"], "larger than the population"),
        (["--capacity", "ten"], "--capacity must be a number"),
        (["--capacity", "150%"], "--capacity must be a number"),
        (["--capacity", "10", "--constraint", "fair"], "must be one of"),
        (["--capacity", "10", "--output", "x.txt"], "--output must end in .csv or .parquet"),
    ],
)
def test_allocate_bad_input_exits_2(people_csv, capsys, args, message):
    code = main(["allocate", str(people_csv), "--benefit", "benefit", "--group", "group",
                 *args])
    assert code == 2
    assert message in capsys.readouterr().err
