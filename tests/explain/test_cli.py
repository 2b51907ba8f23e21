from __future__ import annotations

import json

import joblib
import numpy as np
import polars as pl
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from evenhand.cli import main


def _population(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.normal(50, 12, n)
    debt = rng.gamma(2.0, 5.0, n)
    logit = 0.08 * (income - 50) - 0.15 * (debt - 10)
    return pl.DataFrame({
        "id": [f"c{i}" for i in range(n)],
        "income": income,
        "debt": debt,
        "years": rng.integers(0, 30, n),
        "sex": rng.choice(["f", "m"], n),
        "repaid": (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int),
    })


FEATURES = ["income", "debt", "years"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    train, cal, rows = _population(800, 0), _population(500, 1), _population(5, 2)
    model = LogisticRegression().fit(train.select(FEATURES).to_pandas(), train["repaid"])
    joblib.dump(model, root / "model.joblib")
    forest = RandomForestClassifier(10, max_depth=3, random_state=0)
    joblib.dump(forest.fit(train.select(FEATURES).to_numpy(), train["repaid"]), root / "rf.pkl")
    cal.write_csv(root / "cal.csv")
    rows.write_parquet(root / "rows.parquet")
    (root / "bounds.json").write_text(json.dumps({"income": [0, 80]}))
    (root / "monotone.json").write_text(json.dumps({"years": "increase"}))
    return root


def _args(files, *extra):
    return ["explain", str(files / "model.joblib"), str(files / "rows.parquet"),
            "--sensitive", "sex", "--calibration", str(files / "cal.csv"), "--y-true", "repaid",
            *extra]


def test_writes_json_lines_to_stdout(files, capsys):
    assert main(_args(files, "--id-column", "id", "--bounds", str(files / "bounds.json"),
                      "--monotone", str(files / "monotone.json"))) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5
    records = [json.loads(line) for line in lines]
    assert [r["row_id"] for r in records] == [f"c{i}" for i in range(5)]
    assert all(r["schema"] == "evenhand.decision/1" for r in records)
    for r in records:
        if r["recourse"]:
            assert r["recourse"].get("income", 0) <= 80
            assert "sex" not in r["recourse"]


def test_writes_files_and_a_summary_table(files, tmp_path, capsys):
    out, html = tmp_path / "records.jsonl", tmp_path / "cards.html"
    assert main(_args(files, "--output", str(out), "--html", str(html), "--alpha", "0.2")) == 0
    printed = capsys.readouterr().out
    assert "Decisions (5 rows" in printed
    assert "5 decision records written" in printed
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0]["coverage"] == pytest.approx(0.8)
    assert html.read_text().count('<section class="card">') == 5


def test_model_without_feature_names_takes_features_option(files, capsys):
    args = _args(files, "--features", "income,debt,years")
    args[1] = str(files / "rf.pkl")
    assert main(args) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["model_id"]["class"] == "sklearn.ensemble.RandomForestClassifier"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--sensitive": "race"}, "Column 'race' (given as columns) is not in the data"),
        ({"--y-true": "outcome"}, "Column 'outcome'"),
        ({"MODEL": "missing.joblib"}, "does not exist"),
        ({"MODEL": "cal.csv"}, "Cannot load a model from"),
        ({"--bounds": "cal.csv"}, "is not valid JSON"),
    ],
)
def test_bad_input_exits_with_code_two(files, capsys, change, message):
    args = _args(files)
    for key, value in change.items():
        if key == "MODEL":
            args[1] = str(files / value)
        elif key in args:
            args[args.index(key) + 1] = value
        else:
            args += [key, str(files / value)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
