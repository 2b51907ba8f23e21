"""Automatic discovery of the subgroups (slices) where a model errs most.

:func:`find_slices` implements SliceLine (Sagadeeva & Boehm, "SliceLine: Fast,
Linear-Algebra-based Slice Finding for ML Model Debugging", SIGMOD 2021) with an exact
level-wise search over integer codes; :func:`slices_chart` draws its result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, TypeVar

import narwhals.stable.v2 as nw
import numpy as np
import polars as pl

from evenhand._core._errors import EvenhandError
from evenhand._core._frame import (
    as_column_list,
    check_column_arguments,
    from_any,
    output_like,
    require_columns,
)
from evenhand._slices._chart import slices_chart
from evenhand._slices._encode import encode_features
from evenhand._slices._result import SliceOptions, SliceSearch, run_search
from evenhand._slices._stats import CiMethod, Correction, RankBy

__all__ = ["SliceSearch", "find_slices", "slices_chart"]

RANK_BY: tuple[RankBy, ...] = ("score", "lift", "significance")
CI_METHODS: tuple[CiMethod, ...] = ("auto", "bootstrap")
CORRECTIONS: tuple[Correction, ...] = ("bonferroni", "holm")
DEFAULT_MIN_SUPPORT = 32


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise EvenhandError(
            f"The {name!r} argument of find_slices must be an integer >= {minimum}; got {value!r}."
        )
    return int(value)


def _check_fraction(value: Any, name: str, *, closed_high: bool) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    ok = ok and value > 0.0 and (value <= 1.0 if closed_high else value < 1.0)
    if not ok:
        bracket = "]" if closed_high else ")"
        raise EvenhandError(
            f"The {name!r} argument of find_slices must be a number in (0, 1{bracket}; "
            f"got {value!r}."
        )
    return float(value)


_Choice = TypeVar("_Choice", bound=str)


def _check_choice(value: Any, name: str, choices: Sequence[_Choice]) -> _Choice:
    if value not in choices:
        raise EvenhandError(
            f"The {name!r} argument of find_slices must be one of {list(choices)}; got {value!r}."
        )
    return value


def _check_correction(value: Any) -> Correction:
    # scikit-learn's wording of parameter errors (DESIGN.md, section 6)
    if value not in CORRECTIONS:
        raise EvenhandError(
            f"The 'correction' parameter of find_slices must be one of {CORRECTIONS}. "
            f"Got {value!r} instead."
        )
    return value


def _resolve_min_support(min_support: Any, n: int) -> int:
    """``None`` → ``min(32, n)`` rows; a float in (0, 1) → that share of rows, rounded up."""
    if min_support is None:
        return max(1, min(DEFAULT_MIN_SUPPORT, n))
    if isinstance(min_support, float) and 0.0 < min_support < 1.0:
        return max(1, math.ceil(min_support * n))
    if isinstance(min_support, bool) or not isinstance(min_support, int | np.integer):
        raise EvenhandError(
            "The 'min_support' argument of find_slices must be a row count >= 1 or a "
            f"fraction in (0, 1); got {min_support!r}."
        )
    return _check_int(min_support, "min_support", 1)


def _collect(data: Any, features: list[str], roles: dict[str, str]) -> pl.DataFrame:
    """Select the needed columns with the input's engine and bring them to polars."""
    frame = from_any(data)
    require_columns(frame, {"features": features, **{k: [v] for k, v in roles.items()}})
    columns = list(dict.fromkeys([*features, *roles.values()]))
    selected = frame.select(*columns)
    if isinstance(selected, nw.LazyFrame):
        selected = selected.collect(backend="polars")
    return selected.to_polars()


def _as_array(value: Any, name: str, frame: pl.DataFrame) -> pl.Series:
    if isinstance(value, str):
        return frame.get_column(value)
    series = pl.Series(name, np.asarray(value))
    if series.len() != frame.height:
        raise EvenhandError(
            f"The {name!r} array has {series.len()} values but the data has "
            f"{frame.height} rows; got a length mismatch. Pass one value per row."
        )
    return series


def _check_loss(values: np.ndarray, name: str) -> np.ndarray:
    bad = ~np.isfinite(values)
    if bad.any():
        raise EvenhandError(
            f"The loss {name!r} holds {int(bad.sum())} NaN or infinite values (first at row "
            f"{int(np.flatnonzero(bad)[0])}); got {float(values[bad][0])!r}. "
            "Drop or fix those rows."
        )
    if (values < 0).any():
        raise EvenhandError(
            f"The loss {name!r} must be non-negative (SliceLine's bounds need it); got "
            f"{float(values.min())!r}. Shift or square the loss."
        )
    return values


def _compute_loss(frame: pl.DataFrame, y_true: Any, y_pred: Any, loss: Any) -> np.ndarray:
    """Return the per-row loss: given, or 0/1 misclassification, or squared error."""
    if loss is not None:
        series = _as_array(loss, "loss", frame)
        if series.null_count():
            raise EvenhandError(
                f"The loss {series.name!r} has {series.null_count()} missing values; got "
                "null. Drop those rows or fill them."
            )
        values = series.cast(pl.Float64).to_numpy().astype(float, copy=True)
        return _check_loss(values, str(series.name))
    truth, pred = _as_array(y_true, "y_true", frame), _as_array(y_pred, "y_pred", frame)
    for role, s in (("y_true", truth), ("y_pred", pred)):
        if s.null_count():
            raise EvenhandError(
                f"Column {s.name!r} (given as {role}) has {s.null_count()} missing values; "
                "got null. Drop those rows before finding slices."
            )
    numeric = truth.dtype.is_numeric() and pred.dtype.is_numeric()
    if numeric:
        t, p = truth.cast(pl.Float64).to_numpy(), pred.cast(pl.Float64).to_numpy()
        _check_loss(np.abs(t - p), f"|{truth.name} - {pred.name}|")
        if not (np.all(t == np.round(t)) and np.all(p == np.round(p))):
            return (t - p) ** 2
        return (t != p).astype(float)
    return (truth.cast(pl.String) != pred.cast(pl.String)).to_numpy().astype(float)


def _check_targets(y_true: Any, y_pred: Any, loss: Any) -> None:
    if loss is not None and (y_true is not None or y_pred is not None):
        raise EvenhandError(
            "find_slices takes either 'loss' or 'y_true' with 'y_pred'; got both. "
            "Pass only one of the two."
        )
    if loss is None and (y_true is None or y_pred is None):
        raise EvenhandError(
            "find_slices needs the per-row loss or the labels to compute it; got "
            f"y_true={y_true!r}, y_pred={y_pred!r}, loss=None. Pass loss=<column> or both "
            "y_true=<column> and y_pred=<column>."
        )


def find_slices(
    data: Any,
    *,
    features: str | Sequence[str],
    y_true: str | Any | None = None,
    y_pred: str | Any | None = None,
    loss: str | Any | None = None,
    max_order: int = 3,
    min_support: int | float | None = None,
    top_k: int = 10,
    alpha: float = 0.95,
    seed: int | None = 0,
    rank_by: Literal["score", "lift", "significance"] = "score",
    n_bins: int = 5,
    confidence: float = 0.95,
    ci: Literal["auto", "bootstrap"] = "auto",
    n_boot: int = 2000,
    correction: Literal["bonferroni", "holm"] = "bonferroni",
    return_stats: bool = False,
) -> Any:
    r"""Find the conjunctions of feature values where a model errs most.

    A *slice* is a conjunction of at most ``max_order`` predicates on distinct features,
    e.g. ``sex == 'F' & age in [18, 25)``. Categorical features give one predicate per
    value; numeric features with more than ``n_bins`` distinct values are cut at their
    quantiles into ``n_bins`` bins (the edges are observed values; fewer bins when
    quantiles coincide); missing values form their own ``is null`` predicate. Sensitive
    attributes may be among ``features`` or not: the search treats all features alike.

    With per-row losses :math:`e_i \ge 0`, overall mean error :math:`\bar e` over
    :math:`n` rows and a slice :math:`S` of mean error :math:`\bar e_S`, slices are
    ranked (``rank_by``) by

    * ``"score"``, SliceLine's score
      :math:`\alpha(\bar e_S/\bar e - 1) - (1-\alpha)(n/|S| - 1)`; only slices scoring
      above 0 are reported. The second term penalises small slices hard: at
      ``alpha=0.95`` a slice holding 1% of the rows needs
      :math:`\bar e_S > 6.2\,\bar e` to score above 0, one holding 10% needs
      :math:`1.47\,\bar e`. Raise ``alpha`` (at most 1) to favour smaller slices;
    * ``"lift"``, :math:`\bar e_S/\bar e`; slices with lift above 1 are reported;
    * ``"significance"``, the one-sided raw p-value below; slices with ``p < 0.5``.

    The search is exact: the top ``top_k`` slices of support at least ``min_support``
    equal those of a brute-force enumeration of all conjunctions (ties broken by larger
    support). It prunes with SliceLine's upper bounds: a slice is a candidate only if
    every parent (one predicate fewer) has support :math:`\ge \sigma` and a positive
    error sum, and if its best possible value given the parents' sizes, error sums and
    largest errors can still enter the top ``top_k``. Ranking by significance has no
    such bound, so only support prunes.

    Parameters
    ----------
    data : DataFrame-like
        pandas, polars (eager or lazy), pyarrow, DuckDB, Spark or a dict of arrays.
    features : str or sequence of str
        Columns that may define slices.
    y_true, y_pred : str or array-like, optional
        Labels and predictions (column names, or one value per row). Non-numeric or
        integer-valued pairs give the 0/1 loss ``y_true != y_pred``; other numeric pairs
        the squared error ``(y_true - y_pred)²``.
    loss : str or array-like, optional
        Per-row non-negative loss, instead of ``y_true``/``y_pred``.
    max_order : int, default 3
        Largest number of predicates in a slice (capped at the number of features).
    min_support : int or float, optional
        Smallest slice size ``σ``: rows (int ≥ 1) or a share of rows (float in (0, 1),
        rounded up). Default ``min(32, n)`` rows, the default of SystemDS' reference
        implementation; intervals and p-values of smaller slices are unreliable.
    top_k : int, default 10
        Number of slices returned (fewer if fewer qualify).
    alpha : float, default 0.95
        SliceLine's weight of the error term, in (0, 1].
    seed : int or None, default 0
        Seed of the bootstrap (``ci="bootstrap"``); nothing else is random. The default, 0,
        makes repeated calls give identical results; pass ``seed=None`` explicitly for
        fresh randomness on every call.
    rank_by : {"score", "lift", "significance"}, default "score"
        Ranking criterion, see above.
    n_bins : int, default 5
        Quantile bins per numeric feature.
    confidence : float, default 0.95
        Level of the error intervals.
    ci : {"auto", "bootstrap"}, default "auto"
        ``"auto"``: Wilson score interval for 0/1 losses, Student-t interval
        :math:`\bar e_S \pm t_{|S|-1}\, s/\sqrt{|S|}` otherwise. ``"bootstrap"``:
        percentile interval of ``n_boot`` resamples of the slice's rows.
    n_boot : int, default 2000
        Bootstrap resamples for ``ci="bootstrap"``.
    correction : {"bonferroni", "holm"}, default "bonferroni"
        Family-wise correction of ``p_value`` over the ``m`` evaluated slices
        (``SliceSearch.candidates_evaluated``; each was a potential finding, so the
        family is every evaluated slice, not only the ``top_k`` returned). Both keep the
        probability of any false finding at most the level tested. With raw p-values
        sorted :math:`p_{(1)} \le \dots \le p_{(m)}`:

        * ``"bonferroni"``: :math:`\min(1, m\,p)`. The default: it keeps earlier
          results unchanged and needs nothing but ``m``.
        * ``"holm"``: Holm's step-down procedure,
          :math:`\tilde p_{(i)} = \max_{j \le i} \min(1, (m - j + 1)\, p_{(j)})`
          (tied raw p-values share one value). Never larger than Bonferroni and
          uniformly more powerful under the same guarantee (any dependence between
          tests), so choose it when auditing many slices. It keeps the test statistic
          of every evaluated slice (8 bytes each, 16 with a continuous loss) and, for a
          continuous loss, sums squared losses during the search (one more pass per
          feature set).
    return_stats : bool, default False
        Also return a :class:`SliceSearch` describing the search.

    Returns
    -------
    DataFrame
        One row per slice, best first, in the input's library (pandas in, pandas out;
        otherwise polars), with columns ``slice`` (predicates joined by ``&``), ``size``,
        ``error`` (mean loss in the slice), ``error_ci_low``, ``error_ci_high``,
        ``lift`` (:math:`\bar e_S/\bar e`), ``p_value`` and ``score``. ``p_value`` tests
        whether the slice errs more than the other rows (pooled two-proportion z-test for
        0/1 losses, Welch's t-test otherwise; 1 when the slice is every row) and is
        corrected for the ``m`` slices evaluated as ``correction`` says (default
        Bonferroni, ``min(1, m·p)``). When the overall error is 0 no slice can err more
        and the table is empty.
    SliceSearch
        Only with ``return_stats=True``.

    Raises
    ------
    EvenhandError
        A missing column; neither ``loss`` nor ``y_true`` with ``y_pred`` (or both);
        NaN, infinite, negative or missing losses; an out-of-range argument.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> import evenhand
    >>> rng = np.random.default_rng(0)
    >>> df = pl.DataFrame({
    ...     "sex": rng.choice(["F", "M"], 2000),
    ...     "age": rng.integers(18, 80, 2000),
    ... })
    >>> bad = (df["sex"] == "F").to_numpy() & (df["age"] < 29).to_numpy()
    >>> df = df.with_columns(err=(rng.random(2000) < np.where(bad, 0.6, 0.1)).astype(int))
    >>> top = evenhand.find_slices(df, features=["sex", "age"], loss="err", top_k=2)
    >>> top["slice"].to_list()
    ["sex == 'F' & age in [18, 29)", 'age in [18, 29)']
    >>> holm = evenhand.find_slices(
    ...     df, features=["sex", "age"], loss="err", top_k=2, correction="holm"
    ... )
    >>> bool((holm["p_value"] <= top["p_value"]).all())
    True
    """
    check_column_arguments("find_slices", {}, {"features": features})
    feature_list = as_column_list(features, "features")
    if not feature_list:
        raise EvenhandError("find_slices needs at least one feature; got features=[].")
    repeated = sorted({f for f in feature_list if feature_list.count(f) > 1})
    if repeated:
        raise EvenhandError(
            f"The 'features' argument of find_slices names {repeated} more than once; got "
            f"{feature_list!r}. List each feature once."
        )
    _check_targets(y_true, y_pred, loss)
    options = SliceOptions(
        max_order=_check_int(max_order, "max_order", 1),
        top_k=_check_int(top_k, "top_k", 1),
        alpha=_check_fraction(alpha, "alpha", closed_high=True),
        rank_by=_check_choice(rank_by, "rank_by", RANK_BY),
        confidence=_check_fraction(confidence, "confidence", closed_high=False),
        ci=_check_choice(ci, "ci", CI_METHODS),
        n_boot=_check_int(n_boot, "n_boot", 1),
        seed=seed,
        correction=_check_correction(correction),
    )
    n_bins = _check_int(n_bins, "n_bins", 2)
    roles = {
        k: v
        for k, v in (("y_true", y_true), ("y_pred", y_pred), ("loss", loss))
        if isinstance(v, str)
    }
    frame = _collect(data, feature_list, roles)
    if frame.height == 0:
        raise EvenhandError("find_slices got data with 0 rows; pass at least one row.")
    losses = _compute_loss(frame, y_true, y_pred, loss)
    encoded = encode_features(frame, feature_list, n_bins)
    sigma = _resolve_min_support(min_support, losses.size)
    result, info = run_search(encoded, losses, options, sigma)
    out = output_like(result, data)
    return (out, info) if return_stats else out
