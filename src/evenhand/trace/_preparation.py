"""``trace_preparation``: what each data-preparation step does to each group."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import polars as pl

from evenhand._core._errors import EvenhandError
from evenhand._core._frame import as_column_list, group_codes, native_library
from evenhand._core._levels import level_specs
from evenhand._core._uncertainty import normal_quantile
from evenhand.trace._counts import Grouping, step_changes, step_counts
from evenhand.trace._result import PreparationTrace
from evenhand.trace._run import run_steps, to_polars, validate_raw

__all__ = ["trace_preparation"]


def trace_preparation(
    raw: Any,
    *,
    steps: Sequence[tuple[str, Any]],
    id_column: str,
    sensitive: str | Sequence[str],
    y_true: str | None = None,
    y_pred: str | None = None,
    model_metrics: Sequence[str] | None = None,
    pos_label: Any = 1,
    ci: float = 0.95,
) -> PreparationTrace:
    """Trace a data-preparation pipeline step by step, per group.

    For every step and every group (each sensitive column alone and their intersection) the
    trace reports rows in, dropped and added, the drop share with a Wilson interval, a
    chi-square test that drop shares are equal across groups, the groups' composition and
    base rate before and after, values changed or imputed per column, and optionally how
    audit metrics move (computed by :func:`evenhand.audit`). Formulas are in
    ``evenhand.trace._counts``; steps that remove nothing are listed too.

    Parameters
    ----------
    raw : DataFrame-like
        The data before the first step (any frame :func:`evenhand.audit` reads). Never
        modified.
    steps : list of (str, step)
        Named steps in order. A step is a callable ``frame -> frame`` (it receives a copy of
        the previous step's output, in ``raw``'s library) or the already prepared frame after
        that step. Every frame keeps ``id_column``; its ids must be raw ids (a step may
        repeat an id, e.g. oversampling: this is reported as ``rows_added``).
    id_column : str
        Column of unique row ids in ``raw``. Rows keep the groups they have in ``raw``.
    sensitive : str or list of str
        Sensitive column(s) of ``raw`` (no missing values).
    y_true : str, optional
        Label column; gives base rates (``P(y_true == pos_label)``) before and after.
    y_pred : str, optional
        Decision column; with ``y_true`` and ``model_metrics``, each metric per group is
        audited before and after every step.
    model_metrics : list of str, optional
        Names of :func:`evenhand.audit` binary metrics (e.g. ``["fpr", "selection_rate"]``).
    pos_label : default 1
        Value of ``y_true`` (and ``y_pred``) meaning the positive class.
    ci : float, default 0.95
        Confidence level of every interval; a test's p-value below ``1 - ci`` is reported as
        a difference.

    Returns
    -------
    PreparationTrace

    Raises
    ------
    EvenhandError
        A missing id or sensitive column, null or duplicate raw ids, ids after a step that
        are not raw ids, or ``model_metrics`` without ``y_true`` and ``y_pred``.

    Warns
    -----
    UserWarning
        When a group present before a step has no rows after it.

    Examples
    --------
    >>> import polars as pl
    >>> from evenhand.trace import trace_preparation
    >>> raw = pl.DataFrame({"id": range(8), "group": ["a"] * 4 + ["b"] * 4,
    ...                     "income": [10, None, 30, 40, 50, 60, None, None]})
    >>> trace = trace_preparation(raw, id_column="id", sensitive="group",
    ...                           steps=[("drop_missing", lambda df: df.drop_nulls())])
    >>> trace.steps.select("group", "rows_in", "rows_dropped", "drop_share")
    shape: (2, 4)
    ┌───────┬─────────┬──────────────┬────────────┐
    │ group ┆ rows_in ┆ rows_dropped ┆ drop_share │
    │ ---   ┆ ---     ┆ ---          ┆ ---        │
    │ str   ┆ i64     ┆ i64          ┆ f64        │
    ╞═══════╪═════════╪══════════════╪════════════╡
    │ a     ┆ 4       ┆ 1            ┆ 0.25       │
    │ b     ┆ 4       ┆ 2            ┆ 0.5        │
    └───────┴─────────┴──────────────┴────────────┘
    >>> print(trace.sentences[0])
    Step 'drop_missing' removed 25.0% of a rows [4.6%, 69.9%], 50.0% of b rows
    [15.0%, 85.0%] (by group, drop shares do not differ detectably (p = 0.465)).
    """
    sensitive = as_column_list(sensitive, "sensitive")
    if not 0 < ci < 1:
        raise EvenhandError(f"ci must lie strictly between 0 and 1; got {ci!r}.")
    metrics = _check_metrics(model_metrics, y_true, y_pred)
    table = to_polars(raw, "raw")
    validate_raw(table, id_column, sensitive)
    groupings, membership = _groupings(table, id_column, sensitive)
    frames = run_steps(raw, steps, id_column, table.get_column(id_column))
    step_rows, test_rows, change_rows = [], [], []
    before = table
    for index, (name, after) in enumerate(frames):
        counts, tests, changes = _one_step(before, after, groupings, membership, id_column,
                                           y_true, pos_label, normal_quantile(ci))
        if metrics:
            counts = _with_metrics(counts, before, after, table, id_column, sensitive,
                                   y_true, y_pred, metrics, pos_label)
        _warn_vanished(counts, name, sensitive)
        step_rows.append(counts.select(pl.lit(name).alias("step"), pl.lit(index).alias("index"),
                                       pl.all()))
        test_rows += [{"step": name, "index": index, **t} for t in tests]
        if changes.height:
            change_rows.append(changes.select(pl.lit(name).alias("step"), pl.all()))
        before = after
    config = {"id_column": id_column, "sensitive": sensitive, "y_true": y_true,
              "y_pred": y_pred, "model_metrics": metrics, "ci": ci,
              "step_names": [name for name, _ in frames]}
    return PreparationTrace(
        steps=_concat(step_rows), tests=pl.DataFrame(test_rows, infer_schema_length=None),
        changes=_concat(change_rows), config=config, library=native_library(raw))


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def _check_metrics(metrics, y_true, y_pred) -> list[str]:
    names = as_column_list(metrics, "model_metrics")
    if names and (y_true is None or y_pred is None):
        raise EvenhandError("model_metrics needs both y_true and y_pred (the label and "
                            "decision columns); pass them or leave model_metrics out.")
    return names


def _groupings(table: pl.DataFrame, id_column: str, sensitive: list[str]):
    groupings, membership = [], table.select(id_column)
    for i, attrs in enumerate(level_specs(sensitive, intersect=True)):
        keys, codes = group_codes(table, attrs)
        groupings.append(Grouping(" & ".join(attrs), attrs, keys, f"__evenhand_code{i}"))
        membership = membership.with_columns(pl.Series(f"__evenhand_code{i}", codes))
    return groupings, membership


def _one_step(before, after, groupings, membership, id_column, y_true, pos_label, z):
    if y_true is not None:
        for frame, when in ((before, "before"), (after, "after")):
            if y_true not in frame.columns:
                raise EvenhandError(f"The data {when} a step has no y_true column {y_true!r}; "
                                    "keep the label column through every step.")
    changes = step_changes(before, after, groupings, membership=membership,
                           id_column=id_column)
    added = after.height - before.height + int(
        (~before.get_column(id_column).is_in(after.get_column(id_column).implode())).sum())
    edited = (y_true is not None and changes.height > 0 and changes.filter(
        (pl.col("column") == y_true) & (pl.col("values_changed") > 0)).height > 0)
    counts, tests = step_counts(before, after, groupings, membership=membership,
                                id_column=id_column, y_true=y_true, pos_label=pos_label, z=z,
                                exact_change=added == 0 and not edited)
    return counts, tests, changes


def _with_metrics(counts, before, after, raw, id_column, sensitive, y_true, y_pred, metrics,
                  pos_label):
    from evenhand._audit import audit

    groups = raw.select(id_column, *sensitive)
    out = counts
    for when, frame in (("before", before), ("after", after)):
        missing = [c for c in (y_true, y_pred) if c not in frame.columns]
        if missing:
            raise EvenhandError(f"The data {when} a step lacks column(s) {missing}; keep "
                                "y_true and y_pred through every step to audit metrics.")
        data = frame.select(id_column, y_true, y_pred).join(groups, on=id_column, how="left")
        result = audit(data, y_true=y_true, y_pred=y_pred, sensitive=sensitive,
                       metrics=metrics, pos_label=pos_label, min_group_size=1)
        table = result.by_group.select(
            *sensitive, *(pl.col(m).alias(f"{m}_{when}") for m in metrics))
        out = out.join(table, on=sensitive, how="left", nulls_equal=True, maintain_order="left")
    return out.with_columns(
        *((pl.col(f"{m}_after") - pl.col(f"{m}_before")).alias(f"{m}_change") for m in metrics))


def _warn_vanished(counts: pl.DataFrame, name: str, sensitive: list[str]) -> None:
    gone = counts.filter((pl.col("rows_in") > 0) & (pl.col("rows_out") == 0))
    for row in gone.iter_rows(named=True):
        group = ", ".join(f"{c}={row[c]!r}" for c in sensitive if row.get(c) is not None)
        warnings.warn(f"Group {group} has no rows after step {name!r}; later steps report "
                      "it with zero rows.", UserWarning, stacklevel=3)
