"""``certify``: score bounds, decisions that could flip, and fairness-metric intervals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import polars as pl

from evenhand._core._errors import EvenhandError
from evenhand._core._frame import (
    as_column_list,
    check_column_arguments,
    collect_numpy,
    native_library,
)
from evenhand.bounds._certificate import Certificate
from evenhand.bounds._linear import linear_bounds
from evenhand.bounds._metric_bounds import disparity_table, metric_intervals
from evenhand.bounds._model import Scorer, model_features
from evenhand.bounds._ranges import Domain, parse_ranges
from evenhand.bounds._search import search_bounds
from evenhand.bounds._trees import extract_trees, tree_bounds

__all__ = ["certify"]

Method = Literal["auto", "linear", "tree", "search"]
METHODS = ("auto", "linear", "tree", "search")


def _labels(columns: Mapping[str, np.ndarray], sensitive: list[str]) -> tuple[np.ndarray, list]:
    """Integer group codes and their labels (``"a & b"`` for several attributes)."""
    parts = [np.asarray(columns[c]).astype(str) for c in sensitive]
    if len(parts) == 1:
        joined = parts[0]
    else:
        joined = np.array([" & ".join(t) for t in zip(*parts, strict=True)])
    labels, codes = np.unique(joined, return_inverse=True)
    return codes.astype(np.int64), [str(v) for v in labels]


def _binary_labels(y: np.ndarray, pos_label: Any, name: str) -> np.ndarray:
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise EvenhandError(
            f"Column {name!r} (given as y_true) has missing values; got {int(np.isnan(y).sum())}"
            " missing. Drop or fill those rows first."
        )
    values = np.unique(y).tolist()
    if len(values) > 2 or (len(values) == 2 and pos_label not in values):
        raise EvenhandError(
            f"Column {name!r} (given as y_true) must be binary with pos_label={pos_label!r} "
            f"among its values; got values {values[:10]!r}. Pass a 0/1 column or set "
            "pos_label."
        )
    return (y == pos_label).astype(np.int64)


def _numeric_matrix(scorer: Scorer) -> np.ndarray | None:
    arrays = [scorer.columns[f] for f in scorer.features]
    if not all(a.dtype.kind in "biuf" for a in arrays):
        return None
    return np.column_stack([a.astype(float) for a in arrays])


def _exact_result(res: dict[str, Any], base: np.ndarray, method: str) -> dict[str, Any]:
    """Exact bounds: inner equals outer; the recorded point lies inside by construction."""
    low, high = np.minimum(res["low"], base), np.maximum(res["high"], base)
    return dict(res, low=low, high=high, low_inner=low, high_inner=high,
                exact=np.ones(base.shape[0], dtype=bool), method=method, guaranteed=True)


def _ensemble_result(scorer, tm, X, domains, index, base, budget, seed) -> dict[str, Any]:
    inner = search_bounds(scorer, domains, base, budget=budget, seed=seed, tm=tm, index=index)
    complete = inner["complete"]
    # where every cell of the box was scored, the search result is the exact range; the
    # per-tree outer bound is needed only for the other rows
    low, high = inner["low"].copy(), inner["high"].copy()
    rest = np.flatnonzero(~complete)
    if rest.size:
        outer = tree_bounds(tm, X[rest], {k: d.take(rest) for k, d in domains.items()}, index)
        low[rest] = np.minimum(outer["low"], low[rest])
        high[rest] = np.maximum(outer["high"], high[rest])
    return dict(low=low, high=high, low_inner=inner["low"], high_inner=inner["high"],
                arg_low=inner["arg_low"], arg_high=inner["arg_high"], exact=complete,
                method="tree ensemble (exact: every cell of every box scored)"
                if complete.all() else "tree ensemble (sound outer bound + search inner bound)",
                guaranteed=True)


def _score_bounds(model, scorer, domains, base, method, budget, seed) -> dict[str, Any]:
    if method in ("auto", "linear"):
        res = linear_bounds(model, scorer, domains, base)
        if res is not None:
            return _exact_result(res, base, "linear (exact)")
        if method == "linear":
            raise EvenhandError(
                f"method='linear' needs a linear model, optionally after per-column steps "
                f"(scalers, imputers, encoders in a ColumnTransformer); got "
                f"{type(model).__name__}. Use method='auto'."
            )
    if method in ("auto", "tree"):
        X = _numeric_matrix(scorer)
        tm = extract_trees(model, scorer, X) if X is not None else None
        if X is not None and tm is not None:
            index = {f: i for i, f in enumerate(scorer.features)}
            if tm.single:
                return _exact_result(tree_bounds(tm, X, domains, index), base,
                                     "decision tree (exact)")
            return _ensemble_result(scorer, tm, X, domains, index, base, budget, seed)
        if method == "tree":
            raise EvenhandError(
                f"method='tree' needs a scikit-learn decision tree, random forest, extra trees "
                f"or (hist) gradient boosting model on numeric features; got "
                f"{type(model).__name__}. Use method='auto'."
            )
    res = search_bounds(scorer, domains, base, budget=max(budget, 1), seed=seed)
    return dict(res, low_inner=res["low"], high_inner=res["high"],
                exact=np.zeros(base.shape[0], dtype=bool),
                method="search (sampling + coordinate search; not guaranteed)",
                guaranteed=False)


def _check_args(method: Any, threshold: Any, budget: Any) -> None:
    if method not in METHODS:
        raise EvenhandError(
            f"The 'method' parameter of certify must be one of {METHODS}; got {method!r}."
        )
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not np.isfinite(
        threshold
    ):
        raise EvenhandError(
            f"threshold must be a finite number (decisions are score >= threshold); "
            f"got {threshold!r}."
        )
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise EvenhandError(
            f"search_budget must be a non-negative integer (model scores per row); "
            f"got {budget!r}."
        )


def certify(
    model: Any,
    data: Any,
    *,
    ranges: Mapping[str, Any],
    sensitive: str | Sequence[str],
    y_true: str | None = None,
    threshold: float = 0.5,
    method: Method = "auto",
    features: Sequence[str] | None = None,
    reference: str | None = None,
    pos_label: Any = 1,
    search_budget: int = 64,
    seed: int | None = 0,
) -> Certificate:
    """Bound scores, decisions and fairness metrics when inputs are only trusted to a range.

    Each row's *box* is the product of its features' trusted ranges (features without a
    range keep their recorded value). For every row ``certify`` finds the lowest and highest
    score the model can give inside the box, whether the decision ``score >= threshold``
    can flip, and, per group, the exact interval of each fairness metric over all the
    decisions the unstable rows can take.

    Parameters
    ----------
    model : fitted estimator
        A binary classifier (score ``predict_proba[:, 1]``) or a regressor / margin model
        (``decision_function``, else ``predict``).
    data : DataFrame-like
        pandas, polars (eager or lazy), pyarrow, DuckDB, Spark or a dict of arrays holding
        the model's features, ``sensitive`` and ``y_true``.
    ranges : mapping
        Feature name to range: a number ``d`` (``x ± d``), ``"p%"`` (``x ± p/100·|x|``),
        a list of alternative values (the recorded value or any of these), ``"any"``
        (any value observed in the column), or ``{"delta": d, "min": lo, "max": hi}``
        (``x ± d`` clipped to ``[lo, hi]``, e.g. a count that cannot go below 0).
        Missing values stay missing.
    sensitive : str or list of str
        Column(s) defining the groups; several columns give intersectional groups.
    y_true : str, optional
        Binary outcome column; without it only the selection rate is bounded.
    threshold : float, default 0.5
        Decisions are ``score >= threshold``.
    method : {"auto", "linear", "tree", "search"}
        ``"auto"`` picks the strongest method the model supports: exact closed form for
        linear models (also in a ``Pipeline`` of per-column steps), exact box–leaf
        intersection for a single tree, a sound outer bound plus a search inner bound for
        tree ensembles, and a seeded search (inner bound, not guaranteed) otherwise.
    features : list of str, optional
        The model's input columns in order; defaults to ``model.feature_names_in_``.
    reference : str, optional
        Group that disparities are taken against; defaults to the largest group.
    pos_label : default 1
        Value of ``y_true`` that counts as positive.
    search_budget : int, default 64
        Model scores per row spent by the search (tree ensembles and other models).
    seed : int or None, default 0
        Seed of the random steps of the search.

    Returns
    -------
    Certificate
        ``rows`` (``score``, ``decision``, ``score_low``, ``score_high``, the search's
        ``score_low_inner``/``score_high_inner``, ``gap``, ``decision_stable`` — ``True``
        proven stable, ``False`` proven flippable, null unresolved — and ``exact``),
        ``metric_bounds``, ``disparity_bounds`` and ``flippable``, in the input's library.

    Notes
    -----
    ``score_low``/``score_high`` are exact for linear models and single trees, and for
    ensemble rows marked ``exact`` (every cell of the box scored); otherwise they are sound
    outer bounds for ensembles and *inner* bounds (attained, not guaranteed extreme) for
    the search method (``Certificate.guaranteed`` is then ``False``). Metric intervals use
    the sound bounds (rows not proven stable are free), so they contain the true interval;
    ``low_inner``/``high_inner`` use only proven flips, so they lie inside it. They coincide
    when no row is unresolved, and are then exact. A metric whose denominator is 0 for
    every choice is ``nan``. Every row counts once (there are no sample weights).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from evenhand.bounds import certify
    >>> rng = np.random.default_rng(0)
    >>> data = {"x": rng.normal(size=200), "g": rng.choice(["a", "b"], 200)}
    >>> data["y"] = (data["x"] + rng.normal(size=200) > 0).astype(int)
    >>> model = LogisticRegression().fit(np.c_[data["x"]], data["y"])
    >>> cert = certify(model, data, ranges={"x": 0.1}, sensitive="g", y_true="y",
    ...                features=["x"])
    >>> cert.n_flippable
    15
    >>> cert.metric_bounds.filter(metric="fpr").select("group", "low", "high")
    shape: (2, 3)
    ┌───────┬──────────┬──────────┐
    │ group ┆ low      ┆ high     │
    │ ---   ┆ ---      ┆ ---      │
    │ str   ┆ f64      ┆ f64      │
    ╞═══════╪══════════╪══════════╡
    │ a     ┆ 0.204545 ┆ 0.295455 │
    │ b     ┆ 0.24     ┆ 0.28     │
    └───────┴──────────┴──────────┘
    """
    check_column_arguments(
        "certify", {"y_true": y_true}, {"sensitive": sensitive, "features": features},
    )
    _check_args(method, threshold, search_budget)
    sens = as_column_list(sensitive, "sensitive")
    feats = model_features(model, features)
    needed = list(dict.fromkeys([*feats, *sens, *([y_true] if y_true else [])]))
    columns = collect_numpy(data, needed)
    if columns[needed[0]].shape[0] == 0:
        raise EvenhandError("data has no rows; got an empty table. Pass at least one row.")
    domains = parse_ranges(ranges, columns, feats)
    scorer = Scorer(model, feats, columns)
    base = scorer.score()
    res = _score_bounds(model, scorer, domains, base, method, search_budget, seed)
    codes, labels = _labels(columns, sens)
    y = _binary_labels(np.asarray(columns[y_true]), pos_label, y_true) if y_true else None
    ref = _reference(reference, labels, codes)
    return _assemble(res, scorer, domains, base, float(threshold), columns, sens, y_true,
                     codes, labels, y, ref, data)


def _reference(reference: str | None, labels: list[str], codes: np.ndarray) -> int:
    if reference is None:
        return int(np.bincount(codes, minlength=len(labels)).argmax())
    if str(reference) not in labels:
        raise EvenhandError(
            f"reference={reference!r} is not one of the groups {labels[:20]}; "
            "pass one of them or None (the largest group)."
        )
    return labels.index(str(reference))


def _decisions(res, base, t):
    decision = (base >= t).astype(np.int64)
    can_pos, can_neg = res["high"] >= t, res["low"] < t
    proven_pos, proven_neg = res["high_inner"] >= t, res["low_inner"] < t
    stable = ~(can_pos & can_neg)
    flips = proven_pos & proven_neg
    return decision, can_pos, can_neg, proven_pos, proven_neg, stable, flips


def _assemble(res, scorer, domains, base, t, columns, sens, y_true, codes, labels, y, ref,
              data) -> Certificate:
    decision, can_pos, can_neg, proven_pos, proven_neg, stable, flips = _decisions(res, base, t)
    sound = metric_intervals(codes, len(labels), y, decision, can_pos, can_neg)
    inner = metric_intervals(codes, len(labels), y, decision, proven_pos, proven_neg)
    unresolved = np.bincount(codes[~stable & ~flips], minlength=len(labels))
    metric_rows = []
    for name, (value, low, high) in sound.items():
        for g, label in enumerate(labels):
            metric_rows.append(dict(
                group=label, metric=name, value=float(value[g]), low=float(low[g]),
                high=float(high[g]), low_inner=float(inner[name][1][g]),
                high_inner=float(inner[name][2][g]),
                exact=bool(res["guaranteed"] and unresolved[g] == 0)))
    disparity = disparity_table(sound, labels, ref)
    if not res["guaranteed"] or unresolved.any():
        disparity = disparity.with_columns(exact=pl.lit(False))
    rows = _rows_table(res, base, decision, stable, flips, columns, sens, y_true)
    flippable = _flippable(res, scorer, domains, base, decision, flips, t, columns, sens)
    return Certificate(
        _rows=rows, _metric_bounds=pl.DataFrame(metric_rows), _disparity_bounds=disparity,
        _flippable=flippable, method=res["method"], guaranteed=res["guaranteed"],
        threshold=t, ranges={k: d.spec for k, d in domains.items()},
        reference=labels[ref], _library=native_library(data),
    )


def _rows_table(res, base, decision, stable, flips, columns, sens, y_true) -> pl.DataFrame:
    status = pl.Series("decision_stable", np.where(stable, True, False), dtype=pl.Boolean)
    status = status.scatter(np.flatnonzero(~stable & ~flips), None)
    table = pl.DataFrame({"row": np.arange(base.shape[0])})
    for c in [*sens, *([y_true] if y_true else [])]:
        table = table.with_columns(pl.Series(c, columns[c]))
    gap = (res["high"] - res["high_inner"]) + (res["low_inner"] - res["low"])
    return table.with_columns(
        pl.Series("score", base), pl.Series("decision", decision),
        pl.Series("score_low", res["low"]), pl.Series("score_high", res["high"]),
        pl.Series("score_low_inner", res["low_inner"]),
        pl.Series("score_high_inner", res["high_inner"]),
        pl.Series("gap", np.maximum(gap, 0.0)), status,
        pl.Series("exact", res["exact"]),
    )


def _flippable(res, scorer, domains, base, decision, flips, t, columns, sens) -> pl.DataFrame:
    """Return the rows proven flippable, each with a verified, greedily simplified change."""
    rows = np.flatnonzero(flips)
    up = decision[rows] == 0
    point = {k: np.where(up, res["arg_high"][k][rows], res["arg_low"][k][rows]) for k in domains}
    point = _simplify(scorer, domains, rows, point, decision[rows], t)
    new = scorer.score(rows, point) if rows.size else np.empty(0)
    ok = (new >= t).astype(np.int64) != decision[rows]
    rows, new = rows[ok], new[ok]
    point = {k: _like_recorded(domains[k].x, v[ok]) for k, v in point.items()}
    table = pl.DataFrame({"row": rows})
    for c in sens:
        table = table.with_columns(pl.Series(c, columns[c][rows]))
    table = table.with_columns(
        pl.Series("score", base[rows]), pl.Series("decision", decision[rows]),
        pl.Series("new_score", new), pl.Series("new_decision", 1 - decision[rows]),
        _describe(domains, rows, point),
    )
    for k, d in domains.items():
        table = table.with_columns(pl.Series(k, d.x[rows]), pl.Series(f"new_{k}", point[k]))
    return table


def _simplify(scorer, domains, rows, point, decision, t) -> dict[str, np.ndarray]:
    """Put features back to their recorded values one by one while the flip survives."""
    if rows.size == 0:
        return point
    point = dict(point)
    for k, dom in domains.items():
        trial = dict(point)
        trial[k] = dom.x[rows]
        still = (scorer.score(rows, trial) >= t).astype(np.int64) != decision
        point[k] = np.where(still, dom.x[rows], point[k])
    return point


def _like_recorded(recorded: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Give integer columns' whole-number changes back their integer type."""
    if recorded.dtype.kind in "iu" and new.dtype.kind == "f" and np.all(new == np.round(new)):
        return new.astype(recorded.dtype)
    return new


def _unchanged(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    if old.dtype.kind in "biuf" and new.dtype.kind in "biuf":
        old, new = old.astype(float), new.astype(float)
        return (old == new) | (np.isnan(old) & np.isnan(new))
    return np.array([a == b for a, b in zip(old, new, strict=True)], dtype=bool)


def _describe(domains: dict[str, Domain], rows: np.ndarray, point) -> pl.Series:
    """Text such as ``"age: 23 -> 22; priors_count: 1 -> 2"`` listing the changed features."""
    parts = []
    for k, d in domains.items():
        old, new = d.x[rows], np.asarray(point[k])
        text = pl.format(
            "{}: {} -> {}", pl.lit(k), pl.Series(old).cast(pl.String),
            pl.Series(new).cast(pl.String),
        )
        parts.append(pl.when(pl.lit(pl.Series(~_unchanged(old, new)))).then(text))
    if not parts or rows.size == 0:
        return pl.Series("change", [], dtype=pl.String)
    frame = pl.select(pl.concat_str(parts, separator="; ", ignore_nulls=True).alias("change"))
    return frame.get_column("change")
