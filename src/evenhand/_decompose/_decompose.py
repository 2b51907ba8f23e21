"""Decomposing a gap in mean outcome between two groups into factor-group contributions.

The public entry point is :func:`decompose`; the methods live in private modules
(``_decompose_oaxaca``, ``_decompose_fairlie``, ``_decompose_shapley``) and all return a
labelled estimate vector with bootstrap replicates, wrapped here in a :class:`Decomposition`.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from typing import Any, Literal

import numpy as np

from evenhand._core._errors import EvenhandError
from evenhand._core._frame import check_column_arguments
from evenhand._decompose._design import Design, build_design
from evenhand._decompose._estimates import single_threaded_blas
from evenhand._decompose._result import Decomposition

__all__ = ["Decomposition", "decompose"]

METHODS = ("oaxaca", "fairlie", "shapley")
POOLED = ("neumark", "jann", "cotton", "reimers")
_ALLOWED_POOLED = {"oaxaca": POOLED, "fairlie": ("neumark", "jann"), "shapley": ("neumark", "jann")}


def _check_options(method: str, kind: str, n_boot: Any, confidence_level: Any, seed: Any) -> None:
    if method not in METHODS:
        raise EvenhandError(
            f"The 'method' parameter of decompose must be one of {list(METHODS)}; got {method!r}."
        )
    if kind not in ("twofold", "threefold"):
        raise EvenhandError(
            f"The 'kind' parameter of decompose must be 'twofold' or 'threefold'; got {kind!r}."
        )
    if kind == "threefold" and method != "oaxaca":
        raise EvenhandError(
            f"kind='threefold' is defined for method='oaxaca' only; got method={method!r}. "
            "Use kind='twofold'."
        )
    if not isinstance(n_boot, numbers.Integral) or isinstance(n_boot, bool) or n_boot < 0:
        raise EvenhandError(
            f"The 'n_boot' parameter must be a non-negative integer; got {n_boot!r}."
        )
    if not isinstance(confidence_level, float) or not 0.0 < confidence_level < 1.0:
        raise EvenhandError(
            "The 'confidence_level' parameter must be a float strictly between 0 and 1; got "
            f"{confidence_level!r}."
        )
    if seed is not None and not isinstance(seed, numbers.Integral | np.random.Generator):
        raise EvenhandError(
            f"The 'seed' parameter must be an integer, a numpy Generator or None; got {seed!r}."
        )


def _resolve_reference(method: str, kind: str, reference: Any, design: Design, group: str) -> Any:
    """Map the public ``reference`` onto each method's internal spec."""
    a, b = design.groups
    if reference is None:
        return "jann"
    if isinstance(reference, str) and reference in POOLED:
        if kind == "threefold":
            raise EvenhandError(
                f"reference={reference!r} chooses the twofold reference coefficients; the "
                "threefold decomposition has none (its endowments use group B's coefficients). "
                "Use kind='twofold', or pass groups=(A, B) to set the order."
            )
        if reference not in _ALLOWED_POOLED[method]:
            raise EvenhandError(
                f"reference={reference!r} is not defined for method={method!r}; use one of "
                f"{list(_ALLOWED_POOLED[method])} or a value of {group!r} ({a!r} or {b!r})."
            )
        return reference
    if reference == a:
        return ("weight", 1.0)
    if reference == b:
        return ("weight", 0.0)
    raise EvenhandError(
        f"The 'reference' parameter must be a value of {group!r} ({a!r} or {b!r}) or one of "
        f"{list(_ALLOWED_POOLED[method])}; got {reference!r}."
    )


def decompose(
    data: Any,
    *,
    outcome: str,
    group: str,
    factors: Mapping[str, Sequence[str]],
    method: Literal["oaxaca", "fairlie", "shapley"] = "oaxaca",
    reference: Any = None,
    kind: Literal["twofold", "threefold"] = "twofold",
    weights: str | None = None,
    groups: Sequence[Any] | None = None,
    model: Any = None,
    n_boot: int = 500,
    confidence_level: float = 0.95,
    n_orders: int = 100,
    max_pairs: int = 20_000,
    equalise: Literal["matching", "reweighting"] = "matching",
    seed: int | np.random.Generator | None = 0,
) -> Decomposition:
    """Decompose the gap in mean ``outcome`` between two groups into factor-group parts.

    With ``groups = (A, B)`` the gap is ``Δ = ȳ_A − ȳ_B`` (weighted means if ``weights``).

    **Oaxaca–Blinder** (``method="oaxaca"``, continuous or 0/1 outcome, OLS per group with
    an intercept). With group means of the regressors ``x̄_g`` and coefficients ``β_g``:

    * twofold, with reference coefficients ``β_R``:
      ``Δ = (x̄_A − x̄_B)ᵀβ_R`` (explained) ``+ x̄_Aᵀ(β_A − β_R) + x̄_Bᵀ(β_R − β_B)``
      (unexplained; the two terms are reported as ``unexplained_a`` and ``unexplained_b``);
    * threefold: ``Δ = (x̄_A − x̄_B)ᵀβ_B`` (endowments) ``+ x̄_Bᵀ(β_A − β_B)`` (coefficients)
      ``+ (x̄_A − x̄_B)ᵀ(β_A − β_B)`` (interaction).

    ``reference`` chooses ``β_R``: a group value (that group's coefficients, taken as the
    non-discriminatory ones), ``"reimers"`` (``½β_A + ½β_B``), ``"cotton"`` (weighted by group
    sizes, ``n_A/n·β_A + n_B/n·β_B``), ``"neumark"`` (pooled regression without a group
    indicator) or ``"jann"`` (pooled regression with an indicator for group B, whose
    coefficient is left out of ``β_R``; the default, statsmodels' ``"pooled"``).
    Detailed terms are ``(x̄_Aj − x̄_Bj)β_Rj`` etc.; categorical columns are normalised
    (Yun 2005) so they do not depend on the omitted level, and the constant's share is
    reported under the factor ``"(intercept)"``.

    **Fairlie** (``method="fairlie"``, 0/1 outcome; ``model="logit"`` or ``"probit"``): with
    pooled (``"jann"``, ``"neumark"``) or one group's coefficients ``β*``, explained
    ``= mean_A F(xβ*) − mean_B F(xβ*)``. Per variable, rows of the larger group are
    subsampled to the smaller group's size and paired by rank of ``F(xβ*)``; variables are
    switched from A's to B's values one at a time in a random order, each switch's mean change
    in ``F`` is its contribution, averaged over ``n_orders`` random orders and subsamples
    (seeded). Detailed contributions sum to the explained part only approximately.

    **Shapley** (``method="shapley"``): players are the factor groups (at most 8). For a
    coalition ``S``, ``v(S)`` is the mean prediction of an outcome ``model`` (any scikit-learn
    estimator; default: least squares with an intercept) when the ``S`` columns follow A's
    distribution and the others B's. With ``equalise="matching"`` the rows are hybrids of a
    random row of A (``S`` columns) and a random row of B (other columns), ``max_pairs`` pairs;
    this assumes the factor groups are independent of each other. With
    ``equalise="reweighting"`` B's rows are weighted by the odds ``P(A | x_S) / P(B | x_S)``
    of a logistic regression, so the other columns keep B's distribution given ``x_S``
    (DiNardo–Fortin–Lemieux).
    ``v(∅)``/``v(all)`` are the mean predictions over all rows of B / A. Exact
    Shapley values over all coalitions sum to ``v(all) − v(∅)`` (explained); the unexplained
    part is ``Δ − explained``, so shares sum to 1 exactly. The model is fitted on the
    reference group's rows, on all rows (``"neumark"``) or on all rows with an indicator of
    group B set to 0 when predicting (``"jann"``). With ``weights`` the model is fitted with
    them (weighted least squares; ``fit(X, y, sample_weight=w)`` for an estimator, which must
    accept it), ``v(∅)``/``v(all)`` are weighted mean predictions, ``"matching"`` draws A and
    B rows with probabilities proportional to their weights, and ``"reweighting"`` fits the
    logit with the weights and gives a B row the weight ``w_j · P(A | x_S) / P(B | x_S)``.

    Parameters
    ----------
    data : DataFrame-like
        pandas, polars (eager or lazy), pyarrow, DuckDB, Spark or a dict of arrays.
    outcome, group : str
        Outcome column and the column with exactly two group values.
    factors : dict of str to list of str
        Factor-group name to its columns, e.g. ``{"biological": ["age", "bmi"]}``.
    method : {"oaxaca", "fairlie", "shapley"}
        See above.
    reference : group value, {"jann", "neumark", "cotton", "reimers"} or None
        Reference coefficients of the twofold split (None: ``"jann"``). If a group value and
        ``groups`` is not given, that group is A. The threefold split has no reference (only a
        group value is accepted, to set A).
    kind : {"twofold", "threefold"}
        Threefold is available for Oaxaca only.
    weights : str, optional
        Column of finite non-negative row weights, accepted by all three methods
        (frequency weights: an integer weight ``k`` counts as ``k`` copies of the row; a
        missing weight drops the row like any missing value). Bootstrap replicates resample
        rows within each group and every drawn row keeps its weight.
    groups : (A, B), optional
        Order of the two group values (default: the reference group first, else sorted).
    model : str or estimator, optional
        ``"logit"`` (default) / ``"probit"`` for Fairlie; a scikit-learn estimator for Shapley
        (classifiers contribute ``predict_proba[:, 1]``).
    n_boot : int
        Bootstrap replicates (rows resampled within each group); 0 for none (Oaxaca then uses
        delta-method normal intervals, and Fairlie for its explained parts).
    confidence_level : float
        Level of the percentile intervals.
    n_orders : int
        Random variable orders for Fairlie.
    max_pairs : int
        Random (A, B) pairs used for Shapley coalition values (``equalise="matching"``).
    equalise : {"matching", "reweighting"}
        How Shapley equalises a coalition's distribution (see above).
    seed : int, Generator or None, default 0
        Seed of every random step (bootstrap, Fairlie orders, Shapley pairs).
        The default, 0, makes repeated calls give identical results; pass ``seed=None``
        explicitly for fresh randomness on every call.

    Returns
    -------
    Decomposition

    Raises
    ------
    EvenhandError
        For a missing column, a group column without exactly two values, an outcome constant
        within a group, a regressor constant within a group, a category present in only one
        group, or an invalid option.

    Notes
    -----
    Rows with a missing value in a used column are dropped (``Decomposition.n_dropped``).
    Oaxaca bootstrap replicates are computed from resampled cross-product sums, and the
    delta-method standard errors (``se_delta``) from their Jacobian, so both scale to
    millions of rows.

    Relation to other implementations (checked in the tests):

    * statsmodels ``OaxacaBlinder``: identical totals (to 1e-8) for ``two_fold`` types
      ``"pooled"`` (= ``"jann"``), ``"nuemark"`` (= ``"neumark"``), ``"cotton"``,
      ``"reimers"`` and for ``three_fold``, with the same group order. statsmodels swaps the
      groups by default (``swap=True``) so its gap is positive; pass ``groups`` to match. It
      has no detailed decomposition, and its bootstrap standard errors trim the tails.
    * R package ``oaxaca`` (Hlavac): group A is the indicator's 0; its reference weight ``w``
      means ``w·β_A + (1 − w)·β_B``. Its fourth default weight is the share of group B (in
      the published vignette computed over all rows, missing outcomes included), which is
      not Cotton's ``n_A/n`` weight on ``β_A`` used here and in statsmodels. For the pooled
      regression with a group indicator, R's detailed terms use coefficients that are not
      normalised for the categorical variables; here every ``β_R`` is normalised.

    Examples
    --------
    A synthetic cardiac cohort whose factor groups contribute 0.02, 0.015 and 0.015 to the
    gap in complication rate, plus 0.01 that no factor explains:

    >>> import evenhand as eh
    >>> import polars as pl
    >>> cohort = eh.datasets.make_cardiac_cohort(20_000, seed=2)
    >>> res = eh.decompose(cohort.frame, outcome="complication", group="group",
    ...                    factors=cohort.factors, n_boot=100, seed=1)
    >>> res
    Decomposition(oaxaca, 'A' - 'B': gap=0.06051, explained=0.04986, unexplained=0.01065)
    >>> (res.by_factor
    ...     .filter(pl.col("component") == "explained", pl.col("factor") != "(intercept)")
    ...     .select("factor", "contribution", "ci_low", "ci_high")
    ...     .with_columns(pl.col(pl.Float64).round(3)))
    shape: (3, 4)
    ┌───────────────┬──────────────┬────────┬─────────┐
    │ factor        ┆ contribution ┆ ci_low ┆ ci_high │
    │ ---           ┆ ---          ┆ ---    ┆ ---     │
    │ str           ┆ f64          ┆ f64    ┆ f64     │
    ╞═══════════════╪══════════════╪════════╪═════════╡
    │ biological    ┆ 0.021        ┆ 0.017  ┆ 0.025   │
    │ socioeconomic ┆ 0.013        ┆ 0.008  ┆ 0.018   │
    │ care          ┆ 0.016        ┆ 0.01   ┆ 0.021   │
    └───────────────┴──────────────┴────────┴─────────┘
    >>> cohort.effects
    {'biological': 0.02, 'socioeconomic': 0.015, 'care': 0.015, 'unexplained': 0.01}
    """
    check_column_arguments(
        "decompose", {"outcome": outcome, "group": group, "weights": weights}
    )
    _check_options(method, kind, n_boot, confidence_level, seed)
    design = build_design(
        data,
        outcome=outcome,
        group=group,
        factors=factors,
        weights=weights,
        groups=groups,
        reference=reference,
    )
    ref = _resolve_reference(method, kind, reference, design, group)
    rng = np.random.default_rng(seed)
    if method == "oaxaca":
        from evenhand._decompose._oaxaca import oaxaca

        if model is not None:
            raise EvenhandError(
                f"method='oaxaca' always fits OLS per group; the 'model' parameter is for "
                f"'fairlie' and 'shapley'. Got model={model!r}; remove it."
            )
        with single_threaded_blas():
            est = oaxaca(design, reference=ref, kind=kind, n_boot=int(n_boot), rng=rng)
    elif method == "fairlie":
        from evenhand._decompose._fairlie import fairlie

        with single_threaded_blas():
            est = fairlie(
                design, reference=ref, model=model, n_boot=int(n_boot), n_orders=n_orders, rng=rng
            )
    else:
        from evenhand._decompose._shapley import shapley

        # the default least-squares model is thin BLAS work too; a user's model keeps its threads
        with single_threaded_blas() if model is None else nullcontext():
            est = shapley(
                design,
                reference=ref,
                model=model,
                n_boot=int(n_boot),
                max_pairs=max_pairs,
                equalise=equalise,
                rng=rng,
            )
    info = {
        "method": method,
        "kind": kind,
        "reference": "jann" if reference is None else reference,
        "groups": design.groups,
        "n": dict(zip(design.groups, design.group_sizes, strict=True)),
        "n_dropped": design.n_dropped,
        "n_boot": int(n_boot),
        "seed": seed if isinstance(seed, numbers.Integral) else None,
        "confidence_level": confidence_level,
    }
    return Decomposition(est, info, data)
