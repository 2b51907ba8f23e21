"""Every command's JSON goes through one writer: strict JSON, NaN/inf as null, ISO dates."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from evenhand._core._json import dump_json, jsonable
from evenhand.cli import main


def _strict(text: str):
    def refuse(token):
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def table_csv(tmp_path):
    rng = np.random.default_rng(0)
    n = 1500
    score = rng.random(n)
    df = pl.DataFrame({
        "race": rng.choice(["a", "b", "c"], n),
        "sex": rng.choice(["F", "M"], n),
        "label": (rng.random(n) < score).astype(int),
        "pred": (score > 0.5).astype(int),
        "score": score,
    })
    path = tmp_path / "table.csv"
    df.write_csv(path)
    return path


COMMANDS = {
    "audit": ["--y-true", "label", "--y-score", "score", "--threshold", "0.5",
              "--sensitive", "race", "--n-boot", "50"],
    "data-bias": ["--y-true", "label", "--sensitive", "race,sex"],
    "slices": ["--features", "race,sex", "--y-true", "label", "--y-pred", "pred"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_command_json_round_trips_strictly(command, table_csv, tmp_path, capsys):
    out = tmp_path / f"{command}.json"
    code = main([command, str(table_csv), *COMMANDS[command], "--json", str(out)])
    capsys.readouterr()
    assert code == 0
    text = out.read_text()
    data = _strict(text)
    assert data["schema"].startswith("evenhand.")
    assert dump_json(jsonable(data)) == dump_json(data)  # already in the shared convention


def test_the_shared_convention():
    payload = jsonable({
        "nan": float("nan"), "inf": np.float64(np.inf), "int": np.int64(3),
        "float": np.float32(0.5), "flag": np.bool_(True), "day": dt.date(2024, 1, 31),
        "at": dt.datetime(2024, 1, 31, 12, 30), "nested": [np.nan, (np.int8(1),)],
    })
    assert _strict(dump_json(payload)) == {
        "nan": None, "inf": None, "int": 3, "float": 0.5, "flag": True, "day": "2024-01-31",
        "at": "2024-01-31T12:30:00", "nested": [None, [1]],
    }


def test_the_writer_refuses_a_stray_nan():
    with pytest.raises(ValueError, match="JSON compliant"):
        dump_json({"x": float("nan")})
