"""Bad input, steps that add rows or edit values, vanishing groups, and no mutation."""

from __future__ import annotations

import json

import pandas as pd
import polars as pl
import pytest

from evenhand import EvenhandError
from evenhand.trace import trace_preparation


def _raw() -> pd.DataFrame:
    return pd.DataFrame({
        "id": [1, 2, 3, 4, 5, 6],
        "race": ["a", "a", "a", "b", "b", "c"],
        "sex": ["f", "m", "f", "m", "f", "m"],
        "x": [1.0, None, 3.0, None, 5.0, 6.0],
        "y": [1, 0, 1, 0, 1, 1],
    })


def test_prepared_ids_must_be_raw_ids():
    prepared = _raw().assign(id=[1, 2, 3, 4, 5, 99])
    with pytest.raises(EvenhandError, match="subset of the raw ids"):
        trace_preparation(_raw(), steps=[("renumber", prepared)], id_column="id",
                          sensitive="race")


def test_duplicate_raw_ids():
    raw = _raw().assign(id=[1, 1, 2, 3, 4, 5])
    with pytest.raises(EvenhandError, match="duplicate id"):
        trace_preparation(raw, steps=[], id_column="id", sensitive="race")


@pytest.mark.parametrize(("id_column", "sensitive", "given"),
                         [("row", "race", "id_column"), ("id", "ethnicity", "sensitive")])
def test_missing_columns(id_column, sensitive, given):
    with pytest.raises(EvenhandError, match=f"given as {given}"):
        trace_preparation(_raw(), steps=[], id_column=id_column, sensitive=sensitive)


def test_step_output_without_id_column():
    with pytest.raises(EvenhandError, match="Keep the row-id column"):
        trace_preparation(_raw(), steps=[("drop_id", lambda d: d.drop(columns="id"))],
                          id_column="id", sensitive="race")


def test_metrics_need_predictions():
    with pytest.raises(EvenhandError, match="needs both y_true and y_pred"):
        trace_preparation(_raw(), steps=[], id_column="id", sensitive="race", y_true="y",
                          model_metrics=["fpr"])


def test_added_rows_with_existing_ids_are_reported():
    oversample = ("oversample", lambda d: pd.concat([d, d[d.race == "b"]]))
    trace = trace_preparation(_raw(), steps=[oversample], id_column="id", sensitive="race",
                              y_true="y")
    rows = trace.steps.set_index("race")
    assert rows.loc["b", "rows_added"] == 2
    assert rows.loc["b", "rows_out"] == 4
    assert rows.loc["a", "rows_added"] == 0
    assert rows.loc["b", "base_rate_change_method"] == "newcombe (independent)"
    assert "added 2 row(s) repeating existing ids" in trace.sentences[0]


def test_vanished_group_warns_and_is_reported():
    drop_c = ("drop_c", lambda d: d[d.race != "c"])
    with pytest.warns(UserWarning, match="race='c' has no rows after step 'drop_c'"):
        trace = trace_preparation(_raw(), steps=[drop_c, ("noop", lambda d: d)],
                                  id_column="id", sensitive="race")
    rows = trace.steps.set_index(["step", "race"])
    assert rows.loc[("drop_c", "c"), "drop_share"] == 1.0
    assert rows.loc[("noop", "c"), "rows_in"] == 0
    assert trace.sentences[1] == "Step 'noop' removed no rows."


def test_imputation_is_counted_per_column_and_group():
    def impute(d):
        d["x"] = d["x"].fillna(0.0)  # mutates what it receives: must be a copy
        return d

    raw = _raw()
    original = raw.copy()
    trace = trace_preparation(raw, steps=[("impute", impute)], id_column="id",
                              sensitive=["race", "sex"])
    pd.testing.assert_frame_equal(raw, original)
    changes = trace.changes
    x = changes[(changes.column == "x") & (changes.by == "race")].set_index("race")
    assert x.values_imputed.to_dict() == {"a": 1, "b": 1, "c": 0}
    assert x.values_changed.to_dict() == {"a": 1, "b": 1, "c": 0}
    assert (changes[changes.column == "y"].values_changed == 0).all()
    by = set(trace.steps.by)
    assert by == {"race & sex", "race", "sex"}


def test_polars_input_and_prepared_frames_and_json():
    raw = pl.from_pandas(_raw())
    prepared = raw.filter(pl.col("x").is_not_null())
    trace = trace_preparation(raw, steps=[("given", prepared)], id_column="id",
                              sensitive="sex", y_true="y")
    assert isinstance(trace.steps, pl.DataFrame)
    payload = json.loads(trace.to_json())
    assert payload["schema"] == "evenhand.trace.preparation/1"
    assert [r["rows_dropped"] for r in payload["steps"]] == [0, 2]
    assert payload["sentences"] == trace.sentences
