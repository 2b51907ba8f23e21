from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression

from evenhand import EvenhandError
from evenhand.bounds import flip_test


def _data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, n)
    proxy = s * 1.5 + rng.normal(size=n)  # a feature that carries the sensitive attribute
    x = rng.normal(size=n)
    y = (x + proxy + rng.normal(size=n) > 0.8).astype(int)
    return pd.DataFrame({"x": x, "proxy": proxy, "s": s, "y": y})


def test_counts_match_direct_recomputation():
    df = _data()
    model = LogisticRegression().fit(df[["x", "proxy", "s"]], df.y)
    out = flip_test(model, df, sensitive="s")
    assert isinstance(out, pd.DataFrame)
    base = model.predict_proba(df[["x", "proxy", "s"]])[:, 1] >= 0.5
    for _, row in out.iterrows():
        g, h = int(row.group), int(row.counterfactual)
        part = df[df.s == g].copy()
        part["s"] = h
        new = model.predict_proba(part[["x", "proxy", "s"]])[:, 1] >= 0.5
        changed = new != base[df.s == g]
        assert row.n == len(part)
        assert row.changed == changed.sum()
        assert row.to_positive == (changed & new).sum()
        assert row.share == pytest.approx(changed.mean())
        assert row.ci_low <= row.share <= row.ci_high


def test_proxies_resampled_from_other_group_is_seeded():
    df = pl.from_pandas(_data(seed=1))
    model = LogisticRegression().fit(df.select("x", "proxy").to_pandas(), df["y"].to_numpy())
    # the model never sees s: only the proxy can carry the change
    first = flip_test(model, df, sensitive="s", proxies=["proxy"], seed=3)
    again = flip_test(model, df, sensitive="s", proxies=["proxy"], seed=3)
    assert isinstance(first, pl.DataFrame)
    assert first.equals(again)
    # moving group 0 to group 1's proxy distribution raises scores: more positives
    row = first.filter(pl.col("group") == "0").row(0, named=True)
    assert row["to_positive"] > row["to_negative"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sensitive": ["s", "x"]}, "one sensitive column at a time"),
        ({"sensitive": "y"}, "does not use the sensitive column 'y'"),
        ({"sensitive": "s", "proxies": ["y"]}, "proxies must be model features"),
        ({"sensitive": "s", "confidence": 1.5}, "confidence must be a float"),
    ],
)
def test_bad_inputs(kwargs, message):
    df = _data()
    model = LogisticRegression().fit(df[["x", "proxy", "s"]], df.y)
    with pytest.raises(EvenhandError) as info:
        flip_test(model, df, **kwargs)
    assert message in str(info.value)
