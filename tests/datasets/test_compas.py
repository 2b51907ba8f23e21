"""load_compas / propublica_filter: local copy, cache, download path, filter counts.

No test touches the network: the download path is exercised with ``file://`` URLs.
"""

from __future__ import annotations

import doctest
import shutil

import pandas as pd
import polars as pl
import pytest

from evenhand import EvenhandError
from evenhand.datasets import _compas, load_compas, propublica_filter

FILE = "compas-scores-two-years.csv"


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """An empty data dir, an empty cache and downloads off: nothing leaks from the machine."""
    empty = tmp_path / "data"
    empty.mkdir()
    cache = tmp_path / "cache"
    monkeypatch.setenv("EVENHAND_DATA_DIR", str(empty))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("EVENHAND_OFFLINE", "1")
    return empty, cache / "evenhand" / "compas"


@pytest.fixture
def shared(monkeypatch, isolated, data_dir):
    monkeypatch.setenv("EVENHAND_DATA_DIR", str(data_dir))
    return data_dir / "compas" / FILE


def test_shape_and_columns_in_both_libraries(shared):
    pl_df = load_compas()
    pd_df = load_compas(as_frame="pandas")
    assert isinstance(pl_df, pl.DataFrame)
    assert isinstance(pd_df, pd.DataFrame)
    assert pl_df.shape == (7214, 53) == pd_df.shape
    assert pl_df.columns == list(pd_df.columns)
    # the CSV repeats two names; both libraries use pandas' suffix on the second one
    assert {"decile_score", "decile_score.1", "priors_count", "priors_count.1"} <= set(
        pl_df.columns
    )
    assert pl_df["id"].n_unique() == 7214
    assert pl_df["two_year_recid"].to_list() == pd_df["two_year_recid"].tolist()


@pytest.mark.parametrize("as_frame", ["pandas", "polars", "polars_lazy"])
def test_propublica_filter_keeps_6172_rows_in_the_input_library(shared, as_frame):
    df = load_compas(as_frame="pandas" if as_frame == "pandas" else "polars")
    data = df.lazy() if as_frame == "polars_lazy" else df
    out = propublica_filter(data)
    assert type(out) is type(data)
    out = out.collect() if as_frame == "polars_lazy" else out
    assert len(out) == 6172
    assert len(df) == 7214  # the input is untouched


def test_propublica_filter_reproduces_their_regression_population(shared):
    """On the filtered rows ProPublica's FPRs are 0.4234 vs 0.2201 (shared/data/README.md)."""
    df = propublica_filter(load_compas())
    flagged = pl.col("score_text").is_in(["Medium", "High"])
    fpr = (
        df.filter(pl.col("two_year_recid") == 0)
        .group_by("race")
        .agg(flagged.mean().alias("fpr"))
    )
    rates = dict(fpr.iter_rows())
    assert rates["African-American"] == pytest.approx(0.4234, abs=5e-5)
    assert rates["Caucasian"] == pytest.approx(0.2201, abs=5e-5)


def test_propublica_filter_each_clause():
    df = pl.DataFrame({
        "days_b_screening_arrest": [0, 30, -30, 31, -31, None, 0, 0, 0, 0],
        "is_recid": [0, 1, 0, 0, 0, 0, -1, 0, 0, None],
        "c_charge_degree": ["F", "M", "F", "F", "F", "F", "F", "O", "F", None],
        "score_text": ["Low", "High", "Medium", "Low", "Low", "Low", "Low", "Low", "N/A", "Low"],
    })
    kept = propublica_filter(df.with_row_index("row"))["row"].to_list()
    # rows 3-8 each break one clause; row 9's missing values are kept, as pandas' != did
    assert kept == [0, 1, 2, 9]
    pandas_kept = propublica_filter(df.with_row_index("row").to_pandas())["row"].tolist()
    assert pandas_kept == kept


def test_propublica_filter_names_a_missing_column():
    with pytest.raises(EvenhandError, match=r"Column 'is_recid' \(given as df\) is not in"):
        propublica_filter(pl.DataFrame({
            "days_b_screening_arrest": [0], "c_charge_degree": ["F"], "score_text": ["Low"],
        }))


def test_file_directly_in_data_dir(isolated, compas_csv):
    empty, _ = isolated
    shutil.copy(compas_csv, empty / FILE)
    assert load_compas().shape == (7214, 53)


def test_cache_hit_when_data_dir_is_empty_and_offline(isolated, compas_csv):
    _, cache = isolated
    cache.mkdir(parents=True)
    shutil.copy(compas_csv, cache / FILE)
    assert _compas.compas_path() == cache / FILE
    assert load_compas().height == 7214


def test_cache_defaults_to_home_dot_cache(isolated, monkeypatch, tmp_path, compas_csv):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    target = tmp_path / "home" / ".cache" / "evenhand" / "compas"
    target.mkdir(parents=True)
    shutil.copy(compas_csv, target / FILE)
    assert _compas.compas_path() == target / FILE


def test_offline_and_absent_is_a_clear_error(isolated):
    with pytest.raises(EvenhandError, match="EVENHAND_OFFLINE='1'") as info:
        load_compas()
    message = str(info.value)
    assert "was not found" in message
    assert "download=True" in message
    assert _compas.URL in message


def test_download_false_is_a_clear_error(isolated, monkeypatch):
    monkeypatch.delenv("EVENHAND_OFFLINE")
    with pytest.raises(EvenhandError, match=r"downloading is off \(download=False\)"):
        load_compas(download=False)


def test_a_modified_copy_is_refused(isolated):
    _, cache = isolated
    cache.mkdir(parents=True)
    (cache / FILE).write_text("id,name\n1,x\n")
    with pytest.raises(EvenhandError, match="does not match the published"):
        load_compas()


def test_download_verifies_and_caches(isolated, monkeypatch, compas_csv):
    _, cache = isolated
    monkeypatch.setattr(_compas, "URL", compas_csv.resolve().as_uri())
    df = load_compas(download=True)  # explicit True wins over EVENHAND_OFFLINE
    assert df.shape == (7214, 53)
    assert sorted(p.name for p in cache.iterdir()) == [FILE]  # no partial file left


def test_download_with_wrong_checksum_caches_nothing(isolated, monkeypatch, tmp_path):
    _, cache = isolated
    fake = tmp_path / "fake.csv"
    fake.write_text("id\n1\n")
    monkeypatch.setattr(_compas, "URL", fake.as_uri())
    with pytest.raises(EvenhandError, match="nothing was cached"):
        load_compas(download=True)
    assert list(cache.iterdir()) == []


def test_unreachable_source_is_a_clear_error(isolated, monkeypatch, tmp_path):
    monkeypatch.setattr(_compas, "URL", (tmp_path / "absent.csv").as_uri())
    with pytest.raises(EvenhandError, match=r"Could not download compas-scores-two-years\.csv"):
        load_compas(download=True)


def test_as_frame_is_checked(isolated):
    with pytest.raises(EvenhandError, match=r"'as_frame' .* got 'arrow'"):
        load_compas(as_frame="arrow")


def test_docstring_examples_run():
    result = doctest.testmod(_compas, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
