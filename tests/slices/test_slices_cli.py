"""``evenhand slices`` on files, and find_slices on the real COMPAS data."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

import evenhand
from evenhand.cli import main

from .test_slices_search import _check_against_brute_force


@pytest.fixture
def planted_csv(tmp_path):
    rng = np.random.default_rng(0)
    n = 5000
    df = pl.DataFrame({
        "sex": rng.choice(["F", "M"], n),
        "region": rng.choice(["north", "south", "east"], n),
        "age": rng.integers(18, 80, n),
        "label": rng.integers(0, 2, n),
    })
    hot = ((df["sex"] == "F") & (df["region"] == "south")).to_numpy()
    flip = rng.random(n) < np.where(hot, 0.45, 0.1)
    df = df.with_columns(pred=pl.Series(np.where(flip, 1 - df["label"], df["label"])),
                         loss=pl.Series(flip.astype(float)))
    path = tmp_path / "scored.csv"
    df.write_csv(path)
    return path


def test_cli_prints_the_planted_slice_first(planted_csv, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one table row per line
    code = main(["slices", str(planted_csv), "--features", "sex,region,age",
                 "--y-true", "label", "--y-pred", "pred", "--top-k", "3"])
    out = capsys.readouterr().out
    assert code == 0
    first_row = next(line for line in out.splitlines() if line.startswith("│1 "))
    assert "sex == 'F' & region == 'south'" in first_row
    assert "candidate slices" in out


def test_cli_json_output_with_loss_column(planted_csv, tmp_path, capsys):
    target = tmp_path / "slices.json"
    code = main(["slices", str(planted_csv), "--features", "sex,region", "--loss", "loss",
                 "--min-support", "0.01", "--rank-by", "lift", "--json", str(target)])
    assert code == 0
    payload = json.loads(target.read_text())
    assert payload["schema"] == "evenhand.slices/1"
    assert payload["slices"][0]["slice"] == "sex == 'F' & region == 'south'"
    assert payload["search"]["min_support"] == 50
    lifts = [s["lift"] for s in payload["slices"]]
    assert lifts == sorted(lifts, reverse=True)
    capsys.readouterr()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--features", "sex,nope", "--loss", "loss"], "Column 'nope'"),
        (["--features", "sex"], "needs the per-row loss or the labels"),
        (["--features", "sex", "--loss", "loss", "--max-order", "0"], "'max_order'"),
        (["--features", "sex", "--loss", "loss", "--min-support", "few"], "--min-support"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(planted_csv, capsys, args, message):
    code = main(["slices", str(planted_csv), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1


def test_cli_reports_when_nothing_qualifies(planted_csv, capsys):
    code = main(["slices", str(planted_csv), "--features", "age", "--loss", "loss",
                 "--alpha", "0.01"])
    assert code == 0
    assert "no slice qualifies" in " ".join(capsys.readouterr().out.split())


def _compas(compas_csv):
    df = pl.read_csv(compas_csv, columns=["race", "sex", "age_cat", "c_charge_degree",
                                          "score_text", "two_year_recid", "priors_count"])
    predicted = (df["score_text"] != "Low").cast(pl.Int64)
    return df.with_columns(loss=(predicted != df["two_year_recid"]).cast(pl.Float64))


@pytest.mark.parametrize("rank_by", ["score", "lift", "significance"])
def test_compas_top_slices_equal_brute_force(compas_csv, rank_by):
    df = _compas(compas_csv)
    feats = ["race", "sex", "age_cat", "c_charge_degree"]
    columns = {c: df[c].to_list() for c in feats}
    _check_against_brute_force(columns, df["loss"].to_numpy(), max_order=3, min_support=30,
                               alpha=0.95, rank_by=rank_by, k=10)


def test_compas_with_a_binned_numeric_feature(compas_csv):
    df = _compas(compas_csv)
    result, info = evenhand.find_slices(
        df.to_pandas(), features=["race", "sex", "age_cat", "priors_count"], loss="loss",
        rank_by="lift", min_support=0.02, return_stats=True,
    )
    assert len(result) == 10
    assert any("priors_count in [" in s for s in info_slices(info))
    assert info.n_rows == 7214
    assert (result["p_value"] <= 1).all()


def info_slices(info):
    return [p for predicates in info.predicates for p in predicates]
