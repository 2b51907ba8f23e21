"""Multiclass audits: per-class one-vs-rest rates and macro averages, per group.

One ``group_by`` returns each group's weighted ``K × K`` confusion matrix ``C[true, pred]``.
For class ``c`` the one-vs-rest cells are ``TP = C[c, c]``, ``FN = Σ_j C[c, j] − TP``,
``FP = Σ_i C[i, c] − TP``, ``TN = N − TP − FN − FP``, and the binary definitions of
:mod:`evenhand._core._metrics` apply unchanged; metric names carry the class, e.g. ``tpr[cat]``.
``macro_tpr`` (macro recall), ``macro_ppv`` (macro precision) and ``macro_f1`` average the
per-class values over the classes where they are defined (as scikit-learn's
``average="macro"`` with ``zero_division=np.nan``); ``accuracy = trace(C) / N``.
Bootstrap replicates are multinomial draws over each group's confusion matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import polars as pl

from evenhand._core._bootstrap import draw_cells
from evenhand._core._errors import EvenhandError
from evenhand._core._frame import group_codes
from evenhand._core._levels import Level, finish_level, rate_counts
from evenhand._core._metrics import BINARY_METRICS, Table, onehot_matrix
from evenhand._core._stats import _collect, _lazy, _validation_pass, checked_columns

__all__ = ["multiclass_levels"]

PER_CLASS = ("selection_rate", "tpr", "fpr", "ppv", "f1")
MAX_CLASSES = 100


def _confusion(frame, sensitive, y_true, y_pred, weight, dropna) -> tuple[pl.DataFrame, list]:
    checked = checked_columns(sensitive, dropna, y_true=y_true, y_pred=y_pred, weight=weight)
    _validation_pass(frame, checked=checked, score=None, weight=weight)
    w = nw.col(weight).cast(nw.Float64) if weight is not None else nw.lit(1.0)
    grouped = _lazy(frame).with_columns(w.alias("__w"), (w * w).alias("__w2")).group_by(
        *sensitive, y_true, y_pred, drop_null_keys=False)
    table = _collect(grouped.agg(nw.len().alias("__n"), nw.col("__w").sum(),
                                 nw.col("__w2").sum()))
    classes = sorted(set(table[y_true].to_list()) | set(table[y_pred].to_list()))
    if len(classes) > MAX_CLASSES:
        raise EvenhandError(
            f"{len(classes)} distinct classes in {y_true!r}/{y_pred!r}; a multiclass audit "
            f"takes at most {MAX_CLASSES}. Is this a regression task?"
        )
    return table, classes


def _one_vs_rest(conf: np.ndarray, c: int) -> Table:
    """Binary table ``[..., group, y, ŷ]`` of class ``c`` against the rest."""
    tp = conf[..., c, c]
    fn = conf[..., c, :].sum(axis=-1) - tp
    fp = conf[..., :, c].sum(axis=-1) - tp
    tn = conf.sum(axis=(-1, -2)) - tp - fn - fp
    cells = np.stack([np.stack([tn, fp], axis=-1), np.stack([fn, tp], axis=-1)], axis=-2)
    return Table(cells)


def _values(conf: np.ndarray, n_classes: int) -> np.ndarray:
    """Every metric ``[metric, ..., group]`` from confusion matrices ``[..., group, K, K]``."""
    per_class = np.array([[BINARY_METRICS[m].compute(_one_vs_rest(conf, c)) for m in PER_CLASS]
                          for c in range(n_classes)])  # [class, metric, ..., group]
    with np.errstate(invalid="ignore", divide="ignore"):
        macro = [_nanmean(per_class[:, PER_CLASS.index(m)]) for m in ("tpr", "ppv", "f1")]
        total = conf.sum(axis=(-1, -2))
        accuracy = np.trace(conf, axis1=-2, axis2=-1) / np.where(total > 0, total, np.nan)
    rows = [per_class[c, i] for c in range(n_classes) for i in range(len(PER_CLASS))]
    return np.array([*rows, *macro, accuracy])


def _nanmean(a: np.ndarray) -> np.ndarray:
    finite = np.isfinite(a)
    count = finite.sum(axis=0)
    return np.where(count > 0, np.where(finite, a, 0).sum(axis=0) / np.maximum(count, 1), np.nan)


def multiclass_levels(
    frame: Any,
    *,
    sensitive: Sequence[str],
    y_true: str,
    y_pred: str,
    weight: str | None,
    dropna: bool,
    specs: Sequence[tuple[str, ...]],
    ci: float,
    ci_method: str,
    n_boot: int,
    rng: np.random.Generator,
    min_group_size: int,
) -> tuple[list[Level], Level]:
    """Per-class and macro metrics with intervals for each grouping and overall."""
    table, classes = _confusion(frame, sensitive, y_true, y_pred, weight, dropna)
    keys, codes = group_codes(table, sensitive)
    k = len(classes)
    index = {c: i for i, c in enumerate(classes)}
    ti = np.array([index[v] for v in table[y_true].to_list()])
    pi = np.array([index[v] for v in table[y_pred].to_list()])
    shape = (len(keys), k, k)
    conf, rows, sq = (np.zeros(shape) for _ in range(3))
    for arr, col in ((conf, "__w"), (rows, "__n"), (sq, "__w2")):
        np.add.at(arr, (codes, ti, pi), table[col].to_numpy())
    weighted = not np.array_equal(conf, rows)
    boot = draw_cells(rows, conf, sq, n_boot, rng, weighted=weighted) if n_boot else None
    names = [f"{m}[{c}]" for c in classes for m in PER_CLASS]
    names += ["macro_tpr", "macro_ppv", "macro_f1", "accuracy"]
    better = [BINARY_METRICS[m].higher_is_better for _ in classes for m in PER_CLASS]
    better += [True] * 4
    out = []
    for attrs in [*specs, ()]:
        level_keys, level_codes = group_codes(keys, attrs)
        size = max(len(level_keys), 1)
        onehot = onehot_matrix(level_codes, size)

        def fold(a: np.ndarray, onehot: np.ndarray = onehot) -> np.ndarray:
            return np.einsum("hg,...gij->...hij", onehot, a)

        c_level = fold(conf)
        value = _values(c_level, k)
        level_boot = None if boot is None else np.moveaxis(_values(fold(boot), k), 0, 1)
        num, den = _rate_counts(c_level, fold(sq), k, len(names))
        out.append(finish_level(
            attrs, level_keys, fold(rows).sum(axis=(-1, -2)), names, value, level_boot, num,
            den, ci=ci, ci_method=ci_method, min_group_size=min_group_size,
            higher_is_better=better,
        ))
    return out[:-1], out[-1]


def _rate_counts(conf, sq, k, n_names) -> tuple[np.ndarray, np.ndarray]:
    """Effective counts (Kish) of the per-class rates; ``nan`` rows for the others."""
    num = np.full((n_names, conf.shape[0]), np.nan)
    den = num.copy()
    for c in range(k):
        cells, cells_sq = _one_vs_rest(conf, c).cells, _one_vs_rest(sq, c).cells
        for i, name in enumerate(PER_CLASS):
            metric = BINARY_METRICS[name]
            if metric.rate is not None:
                num[c * len(PER_CLASS) + i], den[c * len(PER_CLASS) + i] = rate_counts(
                    metric, cells, cells_sq)
    return num, den
