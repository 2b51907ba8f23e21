"""User metrics: callables evaluated per group on their rows (the separate, slower path).

Built-in metrics come from the aggregated statistics; a user metric such as word error rate
is not a function of them, so the needed columns are collected once and the callable runs per
group. Its interval is a percentile row bootstrap within each group (``n_boot`` replicates,
seeded), drawn independently per group and per grouping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import narwhals.stable.v2 as nw
import numpy as np
import polars as pl

from evenhand._core._errors import EvenhandError
from evenhand._core._frame import group_codes
from evenhand._core._levels import Level, finish_level

__all__ = ["custom_levels"]


def _collect_rows(frame, columns: Sequence[str]) -> pl.DataFrame:
    selected = frame.select(*dict.fromkeys(columns))
    if isinstance(selected, nw.LazyFrame):
        return selected.collect(backend="polars").to_native()
    return selected.to_polars()


def _evaluate(fn: Callable, name: str, y_true, y_pred, weight) -> float:
    try:
        value = fn(y_true, y_pred) if weight is None else fn(y_true, y_pred, sample_weight=weight)
        return float(value)
    except EvenhandError:
        raise
    except Exception as exc:
        raise EvenhandError(
            f"User metric {name!r} failed on a group ({type(exc).__name__}: {exc}). It is called "
            "as fn(y_true, y_pred) with numpy arrays (plus sample_weight=... when weighted)."
        ) from exc


def custom_levels(
    frame,
    custom: Mapping[str, Callable],
    *,
    specs: Sequence[tuple[str, ...]],
    sensitive: Sequence[str],
    y_true: str,
    y_pred: str,
    weight: str | None,
    ci: float,
    n_boot: int,
    rng: np.random.Generator,
    min_group_size: int,
) -> tuple[list[Level], Level]:
    """Values, intervals and replicates of user metrics for each grouping and overall."""
    cols = [*sensitive, y_true, y_pred] + ([weight] if weight else [])
    table = _collect_rows(frame, cols)
    yt = table.get_column(y_true).to_numpy()
    yp = table.get_column(y_pred).to_numpy()
    w = table.get_column(weight).to_numpy() if weight else None
    out = []
    for attrs in [*specs, ()]:
        keys, codes = group_codes(table, attrs)
        out.append(_level(attrs, keys, codes, custom, yt, yp, w, ci, n_boot, rng,
                          min_group_size))
    return out[:-1], out[-1]


def _level(attrs, keys, codes, custom, yt, yp, w, ci, n_boot, rng, min_group_size) -> Level:
    n_groups = max(len(keys), 1)
    names = list(custom)
    value = np.full((len(names), n_groups), np.nan)
    boot = np.full((n_boot, len(names), n_groups), np.nan)  # no rows when n_boot == 0
    count = np.bincount(codes, minlength=n_groups)
    for g in range(n_groups):
        idx = np.flatnonzero(codes == g)
        for m, name in enumerate(names):
            fn = custom[name]
            value[m, g] = _evaluate(fn, name, yt[idx], yp[idx], None if w is None else w[idx])
            for b in range(n_boot):
                pick = idx[rng.integers(0, idx.size, idx.size)]
                boot[b, m, g] = _evaluate(fn, name, yt[pick], yp[pick],
                                          None if w is None else w[pick])
    nan = np.full_like(value, np.nan)
    return finish_level(
        attrs, keys, count, names, value, boot if n_boot else None, nan, nan.copy(), ci=ci,
        ci_method="bootstrap", min_group_size=min_group_size,
        higher_is_better=[None] * len(names), boot_method="row-bootstrap",
    )
