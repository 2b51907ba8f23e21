"""The accuracy–fairness trade-off: a sweep of constraint bounds, scored on held-out data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from evenhand._core._errors import EvenhandError
from evenhand._core._frame import output_like
from evenhand.mitigate._expgrad import ExponentiatedGradient
from evenhand.mitigate._moments import (
    BoundedGroupLoss,
    DemographicParity,
    EqualizedOdds,
    ErrorRateParity,
    FalsePositiveRateParity,
    Moment,
    TruePositiveRateParity,
)
from evenhand.mitigate._validation import binary_target, encode_groups

__all__ = ["chart", "tradeoff"]

_NAMED = {
    "demographic_parity": DemographicParity,
    "equalized_odds": EqualizedOdds,
    "true_positive_rate_parity": TruePositiveRateParity,
    "equal_opportunity": TruePositiveRateParity,
    "false_positive_rate_parity": FalsePositiveRateParity,
    "error_rate_parity": ErrorRateParity,
}


def tradeoff(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    sensitive_features: Any,
    constraint: str | Moment = "demographic_parity",
    grid: Sequence[float] = (0.005, 0.01, 0.02, 0.05, 0.1),
    test_size: float = 0.3,
    n_boot: int = 400,
    confidence_level: float = 0.95,
    max_iter: int = 50,
    random_state: int | None = 0,
) -> Any:
    r"""Sweep the allowed disparity and report held-out accuracy and disparity with CIs.

    The rows are split once (stratified by group and label) into a training part and a
    held-out part of share ``test_size``. On the training part, the unconstrained
    ``estimator`` and one :class:`ExponentiatedGradient` per bound ``eps`` in ``grid``
    are fitted. On the held-out part each model's *expected* predictions
    :math:`p_i = P(\hat y_i = 1)` give

    * accuracy :math:`\sum_i p_i y_i + (1 - p_i)(1 - y_i)` over rows, and
    * disparity: the largest between-group difference (max − min) of the constraint's
      rate(s) — selection rate, TPR and/or FPR, or error rate; for equalized odds the
      larger of the TPR and FPR differences.

    Intervals are percentile intervals of ``n_boot`` Poisson-bootstrap replicates of the
    held-out rows (the same replicates for every model, so the points are comparable).
    A point is *Pareto optimal* when no other point has accuracy ≥ and disparity ≤
    with one of the two strict (point estimates).

    Parameters
    ----------
    estimator : classifier
        The base estimator (must accept ``sample_weight``).
    X : array-like of shape (n_samples, n_features)
        Features.
    y : array-like of shape (n_samples,)
        Binary labels.
    sensitive_features : array-like
        Group of each row.
    constraint : str or Moment
        ``"demographic_parity"``, ``"equalized_odds"``, ``"equal_opportunity"``
        (``"true_positive_rate_parity"``), ``"false_positive_rate_parity"``,
        ``"error_rate_parity"``, or a constraint object (its ``difference_bound`` is
        replaced by each grid value).
    grid : sequence of float
        The bounds ``eps`` to try (each > 0).
    test_size : float, default=0.3
        Held-out share.
    n_boot : int, default=400
        Bootstrap replicates.
    confidence_level : float, default=0.95
        Coverage of the intervals.
    max_iter : int, default=50
        Passed to :class:`ExponentiatedGradient`.
    random_state : int or None, default=0
        Seed of the split, the bootstrap and the randomised predictions.

    Returns
    -------
    DataFrame
        One row per model (``eps`` is null for the unconstrained one) with columns
        ``model, eps, accuracy, accuracy_low, accuracy_high, disparity, disparity_low,
        disparity_high, pareto_optimal, n_test``, sorted by disparity; pandas if ``X`` is
        a pandas DataFrame, else polars. Filter ``pareto_optimal`` for the front.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from evenhand.mitigate import tradeoff
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 2, 1000)
    >>> X = np.column_stack((rng.normal(size=1000) + a, rng.normal(size=1000)))
    >>> y = (X[:, 0] + rng.normal(size=1000) > 0.5).astype(int)
    >>> front = tradeoff(LogisticRegression(), X, y, sensitive_features=a, grid=[0.02],
    ...                  n_boot=100)
    >>> front.select("model", "eps", "pareto_optimal").sort("model")
    shape: (2, 3)
    ┌────────────────────────┬──────┬────────────────┐
    │ model                  ┆ eps  ┆ pareto_optimal │
    │ ---                    ┆ ---  ┆ ---            │
    │ str                    ┆ f64  ┆ bool           │
    ╞════════════════════════╪══════╪════════════════╡
    │ exponentiated_gradient ┆ 0.02 ┆ true           │
    │ unconstrained          ┆ null ┆ true           │
    └────────────────────────┴──────┴────────────────┘
    """
    moment = _resolve_constraint(constraint)
    if not grid or any(not (np.isfinite(e) and e > 0) for e in grid):
        raise EvenhandError(f"grid must be a non-empty sequence of bounds > 0; got {grid!r}.")
    y01, classes = binary_target(y, owner="tradeoff")
    codes, _ = encode_groups(sensitive_features, len(y01), owner="tradeoff", method=None)
    rows = np.arange(len(y01))
    train, test = train_test_split(rows, test_size=test_size, random_state=random_state,
                                   stratify=codes * 2 + y01)
    X_train, X_test = _take(X, train), _take(X, test)
    models: list[tuple[str, float | None, np.ndarray]] = []
    base = clone(estimator).fit(X_train, classes[y01[train]])
    models.append(("unconstrained", None, base.predict_proba(X_test)[:, -1]))
    for eps in grid:
        bounded = type(moment)(difference_bound=float(eps))
        eg = ExponentiatedGradient(estimator, bounded, eps=float(eps), max_iter=max_iter,
                                   random_state=random_state)
        eg.fit(X_train, classes[y01[train]], sensitive_features=codes[train])
        models.append(("exponentiated_gradient", float(eps), eg.predict_proba(X_test)[:, 1]))
    result = _score(models, y01[test], codes[test], (random_state, n_boot), moment,
                    confidence_level)
    return output_like(result, X)


def _resolve_constraint(constraint: str | Moment) -> Moment:
    if isinstance(constraint, BoundedGroupLoss):
        raise EvenhandError(
            "tradeoff compares accuracy with a parity constraint; got BoundedGroupLoss. Use "
            "one of " + ", ".join(map(repr, _NAMED)) + "."
        )
    if isinstance(constraint, Moment):
        return constraint
    if constraint not in _NAMED:
        raise EvenhandError(
            f"The 'constraint' argument of tradeoff must be one of {sorted(_NAMED)} or a "
            f"constraint object; got {constraint!r}."
        )
    return _NAMED[constraint]()


def _take(X: Any, rows: np.ndarray) -> Any:
    """Rows of a numpy array, pandas or polars frame."""
    if hasattr(X, "iloc"):
        return X.iloc[rows]
    if isinstance(X, pl.DataFrame):
        return X[rows]
    return np.asarray(X)[rows]


def _rates(moment: Moment, p: np.ndarray, y: np.ndarray, codes: np.ndarray,
           w: np.ndarray) -> np.ndarray:
    """Between-group spread of the constraint's rate(s); ``w`` is (n_boot, n) weights."""
    n_groups = int(codes.max()) + 1
    onehot = np.eye(n_groups)[codes]

    def spread(quantity: np.ndarray, mask: np.ndarray) -> np.ndarray:
        num = (w * (quantity * mask)) @ onehot
        den = (w * mask) @ onehot
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = num / den
        return np.nanmax(rate, axis=1) - np.nanmin(rate, axis=1)

    ones = np.ones_like(p)
    if isinstance(moment, ErrorRateParity):
        return spread(p + y - 2 * p * y, ones)
    if isinstance(moment, TruePositiveRateParity):
        return spread(p, y == 1)
    if isinstance(moment, FalsePositiveRateParity):
        return spread(p, y == 0)
    if isinstance(moment, EqualizedOdds):
        return np.maximum(spread(p, y == 1), spread(p, y == 0))
    return spread(p, ones)


def _replicates(
    p: np.ndarray, y: np.ndarray, codes: np.ndarray, moment: Moment, boot: tuple[Any, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and disparity: point estimate first, then the bootstrap replicates.

    The same seed gives every model the same Poisson weights; they are drawn in chunks
    so memory stays bounded by ``_CHUNK`` rows of weights.
    """
    seed, n_boot = boot
    rng = np.random.default_rng(seed)
    correct = p * y + (1 - p) * (1 - y)
    accuracy, disparity = [], []
    sizes = [1] + [min(_CHUNK, n_boot - i) for i in range(0, n_boot, _CHUNK)]
    for i, size in enumerate(sizes):
        w = np.ones((1, len(y))) if i == 0 else rng.poisson(1.0, (size, len(y))).astype(float)
        accuracy.append((w @ correct) / w.sum(axis=1))
        disparity.append(_rates(moment, p, y, codes, w))
    return np.concatenate(accuracy), np.concatenate(disparity)


_CHUNK = 50


def _score(models: list[tuple[str, float | None, np.ndarray]], y: np.ndarray,
           codes: np.ndarray, boot: tuple[Any, int], moment: Moment,
           level: float) -> pl.DataFrame:
    alpha = (1 - level) / 2
    records = []
    for name, eps, p in models:
        accuracy, disparity = _replicates(p, y, codes, moment, boot)
        acc_lo, acc_hi = np.nanquantile(accuracy[1:], [alpha, 1 - alpha])
        dis_lo, dis_hi = np.nanquantile(disparity[1:], [alpha, 1 - alpha])
        records.append({
            "model": name, "eps": eps, "accuracy": accuracy[0], "accuracy_low": acc_lo,
            "accuracy_high": acc_hi, "disparity": disparity[0], "disparity_low": dis_lo,
            "disparity_high": dis_hi, "n_test": len(y),
        })
    frame = pl.DataFrame(records, schema_overrides={"eps": pl.Float64})
    acc, dis = frame["accuracy"].to_numpy(), frame["disparity"].to_numpy()
    dominated = [
        bool(np.any((acc >= acc[i]) & (dis <= dis[i]) & ((acc > acc[i]) | (dis < dis[i]))))
        for i in range(len(acc))
    ]
    frame = frame.with_columns(pl.Series("pareto_optimal", [not d for d in dominated]))
    order = ["model", "eps", "accuracy", "accuracy_low", "accuracy_high", "disparity",
             "disparity_low", "disparity_high", "pareto_optimal", "n_test"]
    return frame.select(order).sort("disparity")


def chart(result: Any, *, title: str = "Accuracy–fairness trade-off (held-out)") -> Any:
    """Draw a :func:`tradeoff` result as an altair chart (points, intervals, the front).

    Parameters
    ----------
    result : DataFrame
        The output of :func:`tradeoff` (pandas or polars).
    title : str
        Chart title.

    Returns
    -------
    altair.LayerChart
        Disparity on x, accuracy on y, 95 % (or the chosen level) interval bars in both
        directions, and a line through the Pareto-optimal points.

    Examples
    --------
    >>> import polars as pl
    >>> from evenhand.mitigate import chart
    >>> result = pl.DataFrame({"model": ["a"], "eps": [0.01], "accuracy": [0.8],
    ...     "accuracy_low": [0.78], "accuracy_high": [0.82], "disparity": [0.01],
    ...     "disparity_low": [0.0], "disparity_high": [0.02], "pareto_optimal": [True],
    ...     "n_test": [100]})
    >>> type(chart(result)).__name__
    'LayerChart'
    """
    try:
        import altair as alt
    except ImportError as exc:  # pragma: no cover - only without the extra
        raise ImportError(
            "The trade-off chart needs altair: pip install 'evenhand[report]'"
        ) from exc
    frame = result if isinstance(result, pl.DataFrame) else pl.from_pandas(result)
    data = alt.Data(values=frame.to_dicts())
    base = alt.Chart(data).encode(
        x=alt.X("disparity:Q", title="disparity (max − min between groups)"),
        y=alt.Y("accuracy:Q", title="accuracy", scale=alt.Scale(zero=False)),
    )
    points = base.mark_point(filled=True, size=60).encode(
        color=alt.Color("pareto_optimal:N", title="Pareto optimal"),
        tooltip=["model:N", "eps:Q", "accuracy:Q", "disparity:Q"],
    )
    vertical = base.mark_rule().encode(y="accuracy_low:Q", y2="accuracy_high:Q")
    horizontal = base.mark_rule().encode(x="disparity_low:Q", x2="disparity_high:Q")
    front = base.mark_line(strokeDash=[4, 3]).transform_filter(
        alt.datum.pareto_optimal
    ).encode(order="disparity:Q")
    return alt.layer(vertical, horizontal, front, points).properties(title=title)
