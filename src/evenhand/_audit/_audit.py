"""``evenhand.audit``: every fairness metric per group, with intervals, from one pass."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import narwhals.stable.v2 as nw
import numpy as np
import polars as pl

from evenhand._audit._custom import custom_levels
from evenhand._audit._multiclass import multiclass_levels
from evenhand._audit._ranking import ranking_levels
from evenhand._core._disparity import disparity_frame, summary_frame
from evenhand._core._errors import EvenhandError
from evenhand._core._frame import (
    as_column_list,
    check_column_arguments,
    from_any,
    native_library,
    require_columns,
)
from evenhand._core._json import dump_json, jsonable, records
from evenhand._core._levels import Level, binary_levels, level_specs, regression_levels
from evenhand._core._metrics import BINARY_METRICS, REGRESSION_METRICS
from evenhand._core._stats import BinaryStats, aggregate_binary, aggregate_regression

__all__ = ["SCHEMA", "Audit", "audit"]

SCHEMA = "evenhand.audit/1"
CI_METHODS = ("wilson", "bootstrap")
TASKS = ("auto", "binary", "regression", "multiclass", "ranking")


def audit(
    data: Any,
    *,
    y_true: str,
    y_pred: str | None = None,
    y_score: str | None = None,
    sensitive: str | Sequence[str],
    weight: str | None = None,
    threshold: float | None = None,
    metrics: Sequence[str] | Mapping[str, Callable] | None = None,
    reference: Any = None,
    intersect: bool = True,
    ci: float = 0.95,
    ci_method: Literal["wilson", "bootstrap"] = "wilson",
    n_boot: int = 1000,
    seed: int | None = 0,
    min_group_size: int = 30,
    dropna: bool = True,
    pos_label: Any = 1,
    task: Literal["auto", "binary", "regression", "multiclass", "ranking"] = "auto",
    favorable: Literal["positive", "negative"] = "positive",
    k: int | None = None,
) -> Audit:
    """Audit a model's decisions for fairness, per group, with confidence intervals.

    The data is aggregated once, by its own engine, into per-group statistics (weighted
    confusion cells, score sums and per-group score histograms); every metric, disparity and
    interval is derived from those (see ``evenhand._core._metrics`` for each metric's formula).

    Parameters
    ----------
    data : DataFrame-like
        pandas, polars (eager or lazy), pyarrow Table, DuckDB relation, Spark DataFrame or a
        dict of equal-length arrays. It is never modified.
    y_true : str
        Column of true labels (0/1 or boolean; other values with ``pos_label``) or, for a
        regression task, true values.
    y_pred : str, optional
        Column of decisions (binary) or predictions (regression).
    y_score : str, optional
        Column of scores. Without ``y_pred`` the decision is ``y_score >= threshold``.
        Scores need not be probabilities (``ece`` is then ``nan`` and flagged).
    sensitive : str or list of str
        Sensitive column(s). With several, groups are their intersections and each column is
        reported alone too (unless ``intersect=False``, which reports only the columns alone).
    weight : str, optional
        Non-negative row weights. Rates become weighted; analytic intervals use Kish's
        effective sample size; the bootstrap becomes a moment-matched Poisson bootstrap.
    threshold : float, optional
        Decision threshold on ``y_score``; must lie within the score's range.
    metrics : list of str or dict of name to callable, optional
        Built-in metric names to compute (default: all that apply), or a dict of user metrics
        ``fn(y_true, y_pred[, sample_weight=...]) -> float`` evaluated per group on a separate,
        slower path (row bootstrap for their intervals) beside every built-in metric.
    reference : optional
        Default reference for :meth:`Audit.disparities`: a group value, a dict of column to
        value (an intersection), ``"overall"``, ``"best"``; ``None`` is the largest group.
    ci : float, default 0.95
        Confidence level of every interval.
    ci_method : {"wilson", "bootstrap"}
        ``"wilson"``: Wilson intervals for rates, Newcombe for differences, Katz for ratios;
        non-rate metrics get bootstrap percentiles. ``"bootstrap"``: bootstrap percentiles
        for everything.
    n_boot : int, default 1000
        Bootstrap replicates (drawn over the count table, so cheap at any size).
    seed : int or None, default 0
        Seed of every random step (bootstrap intervals).
        The default, 0, makes repeated calls give identical results; pass ``seed=None``
        explicitly for fresh randomness on every call.
    min_group_size : int, default 30
        Groups with fewer rows are flagged ``small_group`` (never dropped).
    dropna : bool, default True
        Missing sensitive values are an error; ``False`` keeps them as their own group.
    pos_label : default 1
        Value of ``y_true`` / ``y_pred`` meaning the positive class.
    task : {"auto", "binary", "regression", "multiclass", "ranking"}
        ``"auto"`` chooses regression when ``y_true`` and ``y_pred`` are floats with values
        other than 0 and 1 and no score is given, else binary. ``"multiclass"``: per-class
        one-vs-rest rates and macro averages (see ``evenhand._audit._multiclass``). ``"ranking"``:
        exposure in the top ``k`` versus relevance ``y_true`` per group, ranked by ``y_score``
        (see ``evenhand._audit._ranking``).
    favorable : {"positive", "negative"}
        Whether being selected (ŷ = 1) benefits the person; decides which selection rate is
        "best" (e.g. ``"negative"`` for a high-risk flag).
    k : int, optional
        Length of the top of the ranking (``task="ranking"`` only).

    Returns
    -------
    Audit

    Examples
    --------
    >>> import polars as pl
    >>> import evenhand
    >>> df = pl.DataFrame({
    ...     "y": [1, 0, 1, 0, 1, 0, 1, 0],
    ...     "pred": [1, 0, 1, 1, 0, 0, 1, 0],
    ...     "group": ["a", "a", "a", "a", "b", "b", "b", "b"],
    ... })
    >>> result = evenhand.audit(df, y_true="y", y_pred="pred", sensitive="group", seed=0)
    >>> result.by_group.select("group", "count", "selection_rate", "tpr", "fpr")
    shape: (2, 5)
    ┌───────┬───────┬────────────────┬─────┬─────┐
    │ group ┆ count ┆ selection_rate ┆ tpr ┆ fpr │
    │ ---   ┆ ---   ┆ ---            ┆ --- ┆ --- │
    │ str   ┆ i64   ┆ f64            ┆ f64 ┆ f64 │
    ╞═══════╪═══════╪════════════════╪═════╪═════╡
    │ a     ┆ 4     ┆ 0.75           ┆ 1.0 ┆ 0.5 │
    │ b     ┆ 4     ┆ 0.25           ┆ 0.5 ┆ 0.0 │
    └───────┴───────┴────────────────┴─────┴─────┘
    """
    _check_parameters(ci=ci, ci_method=ci_method, n_boot=n_boot, favorable=favorable, task=task,
                      min_group_size=min_group_size)
    check_column_arguments(
        "audit", {"y_true": y_true, "y_pred": y_pred, "y_score": y_score, "weight": weight},
        {"sensitive": sensitive},
    )
    frame = from_any(data)
    sens = as_column_list(sensitive, "sensitive")
    if not sens:
        raise EvenhandError("Pass sensitive=<column or list of columns> to audit.")
    roles = {"y_true": [y_true], "y_pred": as_column_list(y_pred, "y_pred"),
             "y_score": as_column_list(y_score, "y_score"),
             "weight": as_column_list(weight, "weight"), "sensitive": sens}
    require_columns(frame, roles)
    # user metrics get the decisions, or the score when only a score is given
    custom_pred = y_pred if y_pred is not None else y_score
    if custom_pred is None:
        raise EvenhandError("Pass y_pred (decisions or predictions) or y_score with threshold.")
    if task == "ranking" and y_score is None:
        raise EvenhandError("A ranking audit needs y_score (the ranking score) and k.")
    resolved = _resolve_task(frame, task, y_true, y_pred, y_score)
    builtin, custom = _split_metrics(metrics, resolved, has_score=y_score is not None)
    specs = level_specs(sens, intersect)
    rng = np.random.default_rng(seed)
    stats = None
    if resolved == "binary":
        stats = aggregate_binary(
            frame, sensitive=sens, y_true=y_true, y_pred=y_pred, y_score=y_score,
            weight=weight, threshold=threshold, pos_label=pos_label, dropna=dropna,
        )
        levels, overall = binary_levels(
            stats, names=builtin, specs=specs, ci=ci, ci_method=ci_method, n_boot=n_boot,
            rng=rng, min_group_size=min_group_size, favorable=favorable,
        )
    elif resolved == "regression":
        pred = _require(y_pred, "A regression audit needs y_pred (the predictions).")
        rstats = aggregate_regression(frame, sensitive=sens, y_true=y_true, y_pred=pred,
                                      weight=weight, dropna=dropna)
        levels, overall = regression_levels(rstats, names=builtin, specs=specs, ci=ci,
                                            min_group_size=min_group_size)
    elif resolved == "multiclass":
        pred = _require(y_pred, "A multiclass audit needs y_pred (the predicted classes).")
        levels, overall = multiclass_levels(
            frame, sensitive=sens, y_true=y_true, y_pred=pred, weight=weight, dropna=dropna,
            specs=specs, ci=ci, ci_method=ci_method, n_boot=n_boot, rng=rng,
            min_group_size=min_group_size)
    else:
        score = _require(y_score, "A ranking audit needs y_score (the ranking score) and k.")
        levels, overall = ranking_levels(
            frame, sensitive=sens, y_true=y_true, y_score=score, k=k, dropna=dropna,
            specs=specs, ci=ci, min_group_size=min_group_size)
    if custom:
        extra, extra_overall = custom_levels(
            frame, custom, specs=specs, sensitive=sens, y_true=y_true,
            y_pred=custom_pred, weight=weight, ci=ci,
            n_boot=n_boot, rng=rng, min_group_size=min_group_size,
        )
        levels = [_merge(a, b) for a, b in zip(levels, extra, strict=False)]
        overall = _merge(overall, extra_overall)
    config = {
        "task": resolved, "y_true": y_true, "y_pred": y_pred, "y_score": y_score, "weight": weight,
        "threshold": threshold, "sensitive": sens, "ci": ci, "ci_method": ci_method,
        "n_boot": n_boot, "seed": seed, "min_group_size": min_group_size,
        "pos_label": pos_label, "favorable": favorable, "reference": reference, "k": k,
    }
    return Audit(levels=levels, overall=overall, stats=stats, config=config,
                 library=native_library(data))


def _require(column: str | None, message: str) -> str:
    """Return ``column``, which the task needs: raise ``message`` if it was not given."""
    if column is None:
        raise EvenhandError(message)
    return column


def _check_parameters(*, ci, ci_method, n_boot, favorable, task, min_group_size) -> None:
    if not 0 < ci < 1:
        raise EvenhandError(f"ci must be a confidence level strictly between 0 and 1; got {ci!r}.")
    for name, value, options in (("ci_method", ci_method, CI_METHODS),
                                 ("favorable", favorable, ("positive", "negative")),
                                 ("task", task, TASKS)):
        if value not in options:
            raise EvenhandError(
                f"The {name!r} parameter of audit must be one of {options}. Got {value!r} instead."
            )
    if not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise EvenhandError(f"n_boot must be a non-negative integer; got {n_boot!r}.")
    if min_group_size < 0:
        raise EvenhandError(f"min_group_size must be non-negative; got {min_group_size!r}.")


def _resolve_task(frame, task: str, y_true: str, y_pred: str | None, y_score: str | None) -> str:
    if task != "auto":
        return task
    if y_score is not None or y_pred is None:
        return "binary"
    schema = frame.collect_schema()
    if not (schema[y_true].is_float() and schema[y_pred].is_float()):
        return "binary"
    outside = (~nw.col(y_true).is_in([0.0, 1.0])) | (~nw.col(y_pred).is_in([0.0, 1.0]))
    probe = frame.select(outside.any().alias("x"))
    if isinstance(probe, nw.LazyFrame):
        probe = probe.collect()
    return "regression" if bool(probe.item()) else "binary"


def _split_metrics(metrics, task: str, has_score: bool) -> tuple[list[str], dict[str, Callable]]:
    registry = BINARY_METRICS if task == "binary" else REGRESSION_METRICS
    default = [n for n, m in registry.items() if has_score or not getattr(m, "needs_score", False)]
    if task in ("multiclass", "ranking"):
        if metrics is not None and not isinstance(metrics, Mapping):
            raise EvenhandError(
                f"A {task} audit reports its fixed set of metrics; pass metrics=None or a dict "
                "of user metrics."
            )
        return [], dict(metrics or {})
    if metrics is None:
        return default, {}
    if isinstance(metrics, Mapping):
        bad = [k for k, v in metrics.items() if not callable(v)]
        if bad:
            raise EvenhandError(f"metrics[{bad[0]!r}] is not callable; pass fn(y_true, y_pred).")
        clash = [k for k in metrics if k in registry]
        if clash:
            raise EvenhandError(
                f"User metric name {clash[0]!r} clashes with a built-in metric; rename it."
            )
        return default, dict(metrics)
    names = list(metrics)
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise EvenhandError(
            f"Unknown metric {unknown[0]!r} for a {task} task. Choose from {list(registry)}."
        )
    needs = [n for n in names if getattr(registry[n], "needs_score", False) and not has_score]
    if needs:
        raise EvenhandError(f"Metric {needs[0]!r} needs y_score; pass the score column.")
    return names, {}


def _merge(a: Level, b: Level) -> Level:
    """Append the metric rows of ``b`` (user metrics) to ``a``."""
    cat = np.concatenate
    boot = None
    if a.boot is not None and b.boot is not None:
        boot = cat([a.boot, b.boot], axis=1)
    return Level(
        by=a.by, attrs=a.attrs, keys=a.keys, count=a.count, names=a.names + b.names,
        value=cat([a.value, b.value]), low=cat([a.low, b.low]), high=cat([a.high, b.high]),
        methods=a.methods + b.methods, flags=cat([a.flags, b.flags]), num=cat([a.num, b.num]),
        den=cat([a.den, b.den]), higher_is_better=a.higher_is_better + b.higher_is_better,
        boot=boot,
    )


class Audit:
    """The result of :func:`audit`: per-group metrics, disparities and a summary.

    Tables come back in the input's library (pandas in, pandas out; polars in, polars out;
    anything else gives polars). Rows of groupings that marginalise over a sensitive column
    have ``null`` in that column; the ``by`` column of long tables names the grouping.
    """

    def __init__(self, *, levels: list[Level], overall: Level, stats: BinaryStats | None,
                 config: dict[str, Any], library: str) -> None:
        self._levels = levels
        self._overall = overall
        self.stats = stats
        self.config = config
        self._library = library

    def _out(self, frame: pl.DataFrame) -> Any:
        return frame.to_pandas() if self._library == "pandas" else frame

    @property
    def levels(self) -> list[Level]:
        """The groupings audited (intersection first, then each sensitive column)."""
        return self._levels

    @property
    def by_group(self) -> Any:
        """One row per group: the sensitive columns, ``count`` and one column per metric."""
        return self._out(self._by_group_frame())

    def _by_group_frame(self) -> pl.DataFrame:
        frames = []
        for level in self._levels:
            cols = {a: level.keys.get_column(a) for a in level.attrs}
            frame = pl.DataFrame(cols).with_columns(
                pl.Series("count", level.count.astype(np.int64)),
                *(pl.Series(n, level.value[i]) for i, n in enumerate(level.names)),
            )
            frames.append(frame)
        return pl.concat(frames, how="diagonal_relaxed").select(
            *self.config["sensitive"], pl.exclude(self.config["sensitive"]))

    @property
    def metrics(self) -> Any:
        """Long form of every metric with its interval.

        Columns: sensitive columns, ``metric``, ``value``, ``ci_low``, ``ci_high``, ``count``,
        ``flag`` (``small_group``, ``zero_division``, …), ``ci_method``, ``by``.
        """
        return self._out(self._metrics_frame())

    def _metrics_frame(self) -> pl.DataFrame:
        rows = []
        for level in self._levels:
            for g in range(len(level.count)):
                key = dict(zip(level.attrs, level.keys.row(g), strict=False))
                for m, name in enumerate(level.names):
                    rows.append({**key, "metric": name, "value": level.value[m, g],
                                 "ci_low": level.low[m, g], "ci_high": level.high[m, g],
                                 "count": int(level.count[g]), "flag": level.flags[m, g],
                                 "ci_method": level.methods[m], "by": level.by})
        frame = pl.DataFrame(rows, infer_schema_length=None)
        return frame.select(*self.config["sensitive"], pl.exclude(self.config["sensitive"]))

    @property
    def overall(self) -> Any:
        """Every metric on the whole population, with intervals."""
        return self._out(self._overall_frame())

    def _overall_frame(self) -> pl.DataFrame:
        o = self._overall
        return pl.DataFrame({"metric": o.names, "value": o.value[:, 0], "ci_low": o.low[:, 0],
                             "ci_high": o.high[:, 0], "ci_method": o.methods,
                             "count": [int(o.count[0])] * len(o.names)})

    def disparities(self, reference: Any = None) -> Any:
        """Each group's difference and ratio to a reference group, with intervals.

        ``difference = m(group) − m(reference)``, ``ratio = m(group) / m(reference)``
        (``nan`` when the reference value is 0). ``reference``: a group value, a dict of
        column → value, ``"overall"``, ``"best"`` (the best group per metric), or ``None``
        (the audit's ``reference``, else the largest group of each grouping).
        """
        ref = reference if reference is not None else self.config["reference"]
        frame = disparity_frame(self._levels, self._overall, ref, self.config["ci"],
                                self.config["ci_method"] == "wilson")
        return self._out(frame.select(*self.config["sensitive"],
                                      pl.exclude(self.config["sensitive"])))

    def summary(
        self,
        tolerance: float | Mapping[str, float] | None = None,
        *,
        include_small_groups: bool = False,
    ) -> Any:
        """One row per grouping and named definition, with spread intervals and a p-value.

        ``between_groups_difference = max − min``, ``between_groups_ratio = min / max``;
        ``satisfied`` compares the point estimate with the tolerance (default 0.05 for
        differences, 0.8 for ratios — the four-fifths rule); ``conclusive`` says whether the
        interval lies entirely on one side of it. ``tolerance`` may be a float (applied to
        difference-based definitions) or a dict of definition → tolerance.

        Groups under the audit's ``min_group_size`` are left out of the spread by default
        (a group of 4 would otherwise decide every headline) and listed in
        ``excluded_groups``; ``include_small_groups=True`` keeps them, as fairlearn does.
        """
        if self.config["task"] != "binary":
            raise EvenhandError(
                f"summary() covers binary decisions; this audit is a {self.config['task']} task. "
                "Use by_group, metrics and disparities() instead."
            )
        min_count = 0 if include_small_groups else self.config["min_group_size"]
        return self._out(summary_frame(self._levels, self.config["ci"], tolerance, min_count))

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-ready Python objects (schema ``evenhand.audit/1``)."""
        from evenhand import __version__

        out = {
            "schema": SCHEMA,
            "evenhand_version": __version__,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "config": {k: jsonable(v) for k, v in self.config.items()},
            "rows": int(self._overall.count[0]),
            "groups": records(self._by_group_frame()),
            "metrics": records(self._metrics_frame()),
            "overall": records(self._overall_frame()),
            "disparities": records(disparity_frame(
                self._levels, self._overall, self.config["reference"], self.config["ci"],
                self.config["ci_method"] == "wilson")),
        }
        if self.config["task"] == "binary":
            out["summary"] = records(summary_frame(self._levels, self.config["ci"], None,
                                                   self.config["min_group_size"]))
        return out

    def to_json(self, path: str | Path | None = None, *, indent: int | None = 2) -> str:
        """Serialise :meth:`to_dict` as JSON (``NaN`` written as ``null``); write to ``path``."""
        return dump_json(self.to_dict(), path, indent=indent)

    def to_html(self, path: str | Path | None = None, **options: Any) -> str:
        """Render the self-contained HTML report; write it to ``path`` when given.

        ``options`` go to :func:`evenhand.report.render_audit` (``title``, ``source``,
        ``wording``, ``data_bias``, ``extra_sections``).
        """
        from evenhand.report import render_audit

        html = render_audit(self, **options)
        if path is not None:
            Path(path).write_text(html, encoding="utf-8")
        return html

    def chart(self, name: str = "selection_rate") -> Any:
        """Return the altair chart ``name`` for notebooks (needs the ``report`` extra).

        ``name`` is a metric, ``"roc"``, ``"calibration"``, ``"thresholds"`` or ``"sizes"``.
        """
        from evenhand.report import audit_chart

        return audit_chart(self, name)

    def _repr_html_(self) -> str:
        from evenhand.report import audit_repr_html

        return audit_repr_html(self)

    def __repr__(self) -> str:
        groups = ", ".join(f"{lv.by}: {len(lv.count)}" for lv in self._levels)
        return (f"Audit(task={self.config['task']!r}, rows={int(self._overall.count[0])}, "
                f"groups=[{groups}], metrics={len(self._overall.names)})")


