"""``flip_test``: how many decisions change when only the sensitive attribute changes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from evenhand._core._errors import EvenhandError
from evenhand._core._frame import (
    as_column_list,
    check_column_arguments,
    collect_numpy,
    output_like,
)
from evenhand._core._uncertainty import normal_quantile, wilson
from evenhand.bounds._model import Scorer, model_features

__all__ = ["flip_test"]


def _check(sensitive: Any, proxies: list[str], feats: list[str], confidence: Any) -> str:
    if not isinstance(sensitive, str):
        raise EvenhandError(
            f"flip_test changes one sensitive column at a time; got sensitive={sensitive!r}. "
            "Pass a single column name."
        )
    if sensitive not in feats and not any(p in feats for p in proxies):
        raise EvenhandError(
            f"The model does not use the sensitive column {sensitive!r} (got features "
            f"{feats[:20]}), so changing it cannot change a decision. Name the model inputs "
            "that stand in for it with proxies=[...]."
        )
    missing = [p for p in proxies if p not in feats]
    if missing:
        raise EvenhandError(
            f"proxies must be model features; got {missing!r}, not among {feats[:20]}."
        )
    if not isinstance(confidence, float) or not 0 < confidence < 1:
        raise EvenhandError(f"confidence must be a float in (0, 1); got {confidence!r}.")
    return sensitive


def flip_test(
    model: Any,
    data: Any,
    *,
    sensitive: str,
    proxies: Sequence[str] | None = None,
    seed: int | None = 0,
    features: Sequence[str] | None = None,
    threshold: float = 0.5,
    confidence: float = 0.95,
) -> Any:
    """Counterfactual flip test: change the sensitive attribute and count changed decisions.

    For every row of group ``g`` and every other group ``h``, the row is re-scored with the
    sensitive value set to ``h`` and — when ``proxies`` are named — those features replaced
    by the values of a row drawn at random (with replacement, seeded) from group ``h``, so
    proxies keep their joint distribution in ``h``. The decision is ``score >= threshold``.

    Parameters
    ----------
    model : fitted estimator
        Binary classifier or scoring model, as for :func:`certify`.
    data : DataFrame-like
        Rows holding the model's features and the sensitive column.
    sensitive : str
        The sensitive column; it should be a model feature unless ``proxies`` are given.
    proxies : list of str, optional
        Features resampled from the counterfactual group's distribution.
    seed : int or None, default 0
        Seed of the proxy resampling.
        The default, 0, makes repeated calls give identical results; pass ``seed=None``
        explicitly for fresh randomness on every call.
    features : list of str, optional
        The model's input columns; defaults to ``model.feature_names_in_``.
    threshold : float, default 0.5
        Decision threshold on the score.
    confidence : float, default 0.95
        Level of the Wilson intervals.

    Returns
    -------
    DataFrame
        In the input's library, one row per ``(group, counterfactual)``: ``n`` rows,
        ``changed`` decisions, ``share = changed / n`` with Wilson interval ``ci_low``,
        ``ci_high`` (rows treated as independent draws), and how many changed
        ``to_positive`` and ``to_negative``. ``share`` is ``nan`` for an empty group.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from evenhand.bounds import flip_test
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"x": rng.normal(size=300), "s": rng.integers(0, 2, 300)})
    >>> y = (df.x + 0.8 * df.s + rng.normal(size=300) > 0).astype(int)
    >>> model = LogisticRegression().fit(df[["x", "s"]], y)
    >>> flip_test(model, df, sensitive="s")[["group", "counterfactual", "n", "changed"]]
      group counterfactual    n  changed
    0     0              1  167       71
    1     1              0  133       52
    """
    check_column_arguments(
        "flip_test", {}, {"sensitive": sensitive, "proxies": proxies, "features": features}
    )
    proxy_list = as_column_list(proxies, "proxies")
    feats = model_features(model, features)
    sens = _check(sensitive, proxy_list, feats, confidence)
    columns = collect_numpy(data, list(dict.fromkeys([*feats, sens])))
    scorer = Scorer(model, feats, columns)
    decision = scorer.score() >= threshold
    groups = np.asarray(columns[sens])
    labels = list(dict.fromkeys(sorted(groups.tolist(), key=str)))
    rng = np.random.default_rng(seed)
    records = []
    for g in labels:
        rows = np.flatnonzero(groups == g)
        for h in labels:
            if h == g:
                continue
            changes = _counterfactual(columns, sens, h, rows, groups, proxy_list, feats, rng)
            new = scorer.score(rows, changes) >= threshold
            flipped = new != decision[rows]
            records.append(dict(group=str(g), counterfactual=str(h), n=rows.size,
                                changed=int(flipped.sum()),
                                to_positive=int((flipped & new).sum()),
                                to_negative=int((flipped & ~new).sum())))
    return output_like(_with_intervals(records, confidence), data)


def _counterfactual(columns, sens, h, rows, groups, proxies, feats, rng) -> dict:
    changes = {}
    if sens in feats:
        changes[sens] = np.full(rows.size, h, dtype=np.asarray(columns[sens]).dtype)
    if proxies:
        donors = rng.choice(np.flatnonzero(groups == h), size=rows.size, replace=True)
        for p in proxies:
            changes[p] = np.asarray(columns[p])[donors]
    return changes


def _with_intervals(records: list[dict], confidence: float) -> pl.DataFrame:
    table = pl.DataFrame(records, schema={
        "group": pl.String, "counterfactual": pl.String, "n": pl.Int64, "changed": pl.Int64,
        "to_positive": pl.Int64, "to_negative": pl.Int64,
    })
    x, n = table["changed"].to_numpy(), table["n"].to_numpy()
    low, high = wilson(x, n, normal_quantile(confidence))
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(n > 0, x / np.maximum(n, 1), np.nan)
    return table.select("group", "counterfactual", "n", "changed").with_columns(
        pl.Series("share", share), pl.Series("ci_low", low), pl.Series("ci_high", high),
        table["to_positive"], table["to_negative"],
    )
