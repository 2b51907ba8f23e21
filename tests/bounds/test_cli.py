from __future__ import annotations

import json

import joblib
import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

from evenhand.cli import main


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    df = pl.DataFrame({"x": rng.normal(size=n), "z": rng.integers(0, 5, n),
                       "g": rng.choice(["a", "b"], n)})
    df = df.with_columns(y=(pl.col("x") + rng.normal(size=n) > 0).cast(pl.Int64))
    data = tmp_path / "data.csv"
    df.write_csv(data)
    model = LogisticRegression().fit(df.select("x", "z").to_pandas(), df["y"].to_numpy())
    model_path = tmp_path / "model.joblib"
    joblib.dump(model, model_path)
    ranges = tmp_path / "ranges.json"
    ranges.write_text(json.dumps({"x": 0.2, "z": 1}))
    return data, model_path, ranges, model, df


def test_bounds_command_prints_and_writes_json(files, tmp_path, capsys):
    data, model_path, ranges, model, df = files
    out = tmp_path / "cert.json"
    code = main(["bounds", str(model_path), str(data), "--ranges", str(ranges),
                 "--sensitive", "g", "--y-true", "y", "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    from evenhand.bounds import certify

    cert = certify(model, df, ranges={"x": 0.2, "z": 1}, sensitive="g", y_true="y")
    assert f"{cert.n_flippable} decisions can flip" in printed
    assert "Per-group metric intervals" in printed
    saved = json.loads(out.read_text())
    assert saved["n_flippable"] == cert.n_flippable
    assert saved["method"] == "linear (exact)"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("model", "Cannot load the model file"),
        ("ranges", "is not valid JSON"),
        ("missing", "does not exist"),
        ("column", "ranges names 'q'"),
    ],
)
def test_bounds_command_bad_inputs(files, tmp_path, capsys, change, message):
    data, model_path, ranges, _, _ = files
    if change == "model":
        model_path = tmp_path / "junk.joblib"
        model_path.write_text("not a model")
    elif change == "ranges":
        ranges.write_text("{bad json")
    elif change == "missing":
        model_path = tmp_path / "absent.joblib"
    else:
        ranges.write_text(json.dumps({"q": 1}))
    code = main(["bounds", str(model_path), str(data), "--ranges", str(ranges),
                 "--sensitive", "g"])
    assert code == 2
    assert message in capsys.readouterr().err
