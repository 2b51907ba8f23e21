"""Per-step, per-group counts of one preparation step, with intervals and tests.

Definitions (for one step, one group ``g``; a row's group is read from ``raw`` by its id, so
a step that edits a sensitive column does not move rows between groups):

- ``rows_in`` / ``rows_out``: rows of ``g`` before / after the step.
- ``rows_dropped``: rows before the step whose id is absent after it.
- ``rows_added``: ``rows_out - (rows_in - rows_dropped)`` (rows repeating an existing id).
- ``drop_share = rows_dropped / rows_in`` with a Wilson interval (``nan`` when
  ``rows_in == 0``).
- ``share_before`` / ``share_after``: ``g``'s share of all rows of its grouping.
- ``base_rate_*``: ``P(y_true == pos_label)`` among rows with a label, Wilson intervals.
- ``base_rate_change = base_rate_after - base_rate_before``. When the step only removes rows
  and edits no label, ``after`` is a subset of ``before`` and the change equals
  ``d (p_kept - p_dropped)`` with ``d`` the dropped share of labelled rows; its interval is
  ``d`` times Newcombe's interval for ``p_kept - p_dropped`` (two disjoint samples), exactly 0
  when nothing is dropped. Otherwise (rows added, labels edited) Newcombe's interval for
  ``after - before`` treated as independent samples is used, which is conservative.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from evenhand._core._uncertainty import chi2_homogeneity, chi2_pvalue, newcombe, wilson

__all__ = ["Grouping", "attach_codes", "step_changes", "step_counts"]

_ROWS = ("rows_in", "rows_out", "rows_dropped", "rows_added")


@dataclass(frozen=True)
class Grouping:
    """One grouping reported: its name, sensitive columns, keys and code column."""

    by: str
    attrs: tuple[str, ...]
    keys: pl.DataFrame
    code: str


def attach_codes(frame: pl.DataFrame, membership: pl.DataFrame, id_column: str) -> pl.DataFrame:
    """Each row's group codes (from ``membership``, keyed by id), in ``frame``'s row order."""
    return frame.select(id_column).join(membership, on=id_column, how="left",
                                        maintain_order="left")


def _labels(frame: pl.DataFrame, y_true: str | None, pos_label: Any) -> tuple[np.ndarray, ...]:
    if y_true is None:
        return np.zeros(frame.height), np.zeros(frame.height)
    col = frame.get_column(y_true)
    labelled = col.is_not_null().to_numpy().astype(float)
    positive = (col == pos_label).fill_null(False).to_numpy().astype(float)
    return positive, labelled


def _count(codes: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(codes, weights=weights, minlength=size).astype(float)


def step_counts(
    before: pl.DataFrame, after: pl.DataFrame, groupings: list[Grouping], *,
    membership: pl.DataFrame, id_column: str, y_true: str | None, pos_label: Any,
    z: float, exact_change: bool,
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """Per-group rows of one step (see the module docstring) and one test row per grouping."""
    cb = attach_codes(before, membership, id_column)
    ca = attach_codes(after, membership, id_column)
    kept = before.get_column(id_column).is_in(after.get_column(id_column).implode()).to_numpy()
    pos_b, lab_b = _labels(before, y_true, pos_label)
    pos_a, lab_a = _labels(after, y_true, pos_label)
    frames, tests = [], []
    for grouping in groupings:
        size = grouping.keys.height
        code_b = cb.get_column(grouping.code).to_numpy()
        code_a = ca.get_column(grouping.code).to_numpy()
        n_in, n_out = _count(code_b, size), _count(code_a, size)
        dropped = _count(code_b, size, (~kept).astype(float))
        low, high = wilson(dropped, n_in, z)
        with np.errstate(divide="ignore", invalid="ignore"):
            cols: dict[str, Any] = {
                "by": grouping.by, "rows_in": n_in, "rows_out": n_out, "rows_dropped": dropped,
                "rows_added": n_out - (n_in - dropped), "drop_share": dropped / n_in,
                "drop_share_low": low, "drop_share_high": high,
                "share_before": n_in / n_in.sum(), "share_after": n_out / n_out.sum(),
            }
        if y_true is not None:
            label_counts = (_count(code_b, size, pos_b), _count(code_b, size, lab_b),
                            _count(code_a, size, pos_a), _count(code_a, size, lab_a))
            cols |= _base_rates(*label_counts, z)
            cols |= _base_rate_change(code_b, size, kept, pos_b, lab_b, label_counts, z,
                                      exact_change)
        frame = grouping.keys.with_columns(
            *(pl.Series(k, v) if isinstance(v, np.ndarray) else pl.lit(v).alias(k)
              for k, v in cols.items())).with_columns(pl.col(_ROWS).cast(pl.Int64))
        frames.append(frame)
        statistic, df = chi2_homogeneity(dropped, n_in)
        tests.append({"by": grouping.by, "statistic": statistic, "df": df,
                      "p_value": chi2_pvalue(statistic, df)})
    return pl.concat(frames, how="diagonal_relaxed"), tests


def _base_rates(pos_b, lab_b, pos_a, lab_a, z: float) -> dict[str, np.ndarray]:
    out = {}
    for when, pos, lab in (("before", pos_b, lab_b), ("after", pos_a, lab_a)):
        low, high = wilson(pos, lab, z)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"base_rate_{when}"] = pos / lab
        out[f"base_rate_{when}_low"], out[f"base_rate_{when}_high"] = low, high
    return out


def _base_rate_change(code_b, size, kept, pos_b, lab_b, label_counts, z, exact):
    pos_before, lab_before, pos_after, lab_after = label_counts
    with np.errstate(divide="ignore", invalid="ignore"):
        change = pos_after / lab_after - pos_before / lab_before
    if exact:
        keep = kept.astype(float)
        kept_pos, kept_lab = _count(code_b, size, pos_b * keep), _count(code_b, size, lab_b * keep)
        drop_pos, drop_lab = pos_before - kept_pos, lab_before - kept_lab
        low, high = newcombe(kept_pos, kept_lab, drop_pos, drop_lab, z)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = drop_lab / lab_before
        low, high = d * low, d * high
        nothing = (drop_lab == 0) & (lab_before > 0)
        low, high = np.where(nothing, 0.0, low), np.where(nothing, 0.0, high)
        method = "kept vs dropped"
    else:
        low, high = newcombe(pos_after, lab_after, pos_before, lab_before, z)
        method = "newcombe (independent)"
    return {"base_rate_change": change, "base_rate_change_low": low,
            "base_rate_change_high": high, "base_rate_change_method": method}


def step_changes(
    before: pl.DataFrame, after: pl.DataFrame, groupings: list[Grouping], *,
    membership: pl.DataFrame, id_column: str,
) -> pl.DataFrame:
    """Values changed and imputed per column and group, comparing rows by id.

    Rows are matched on the id (the first row of a repeated id); a value is *changed* when it
    differs after the step (a null and a value differ; two nulls do not) and *imputed* when
    it was null before and is not after. Columns added or removed by the step are skipped.
    """
    common = [c for c in before.columns if c in after.columns and c != id_column]
    first_b = before.unique(id_column, keep="first", maintain_order=True)
    first_a = after.unique(id_column, keep="first", maintain_order=True)
    aligned = first_b.join(first_a.select(id_column, *common), on=id_column, how="inner",
                           suffix="__after", maintain_order="left")
    codes = attach_codes(aligned, membership, id_column)
    frames = []
    for col in common:
        changed, imputed = _compare(aligned.get_column(col), aligned.get_column(col + "__after"))
        for grouping in groupings:
            code, size = codes.get_column(grouping.code).to_numpy(), grouping.keys.height
            frames.append(grouping.keys.with_columns(
                pl.lit(grouping.by).alias("by"), pl.lit(col).alias("column"),
                pl.Series("rows_compared", _count(code, size).astype(np.int64)),
                pl.Series("values_changed", _count(code, size, changed).astype(np.int64)),
                pl.Series("values_imputed", _count(code, size, imputed).astype(np.int64))))
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed")


def _compare(b: pl.Series, a: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    if b.dtype != a.dtype:
        b, a = b.cast(pl.String, strict=False), a.cast(pl.String, strict=False)
    changed = b.ne_missing(a).to_numpy().astype(float)
    imputed = (b.is_null() & a.is_not_null()).to_numpy().astype(float)
    return changed, imputed
