"""Oaxaca–Blinder: oracles (statsmodels, the R `oaxaca` vignette), properties and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import evenhand as eh
from evenhand import EvenhandError
from evenhand._decompose._design import build_design
from evenhand._decompose._oaxaca import oaxaca

FACTORS = {"first": ["x1", "x2"], "second": ["x3"]}


def synthetic(n: int = 3000, seed: int = 0, categorical: bool = False) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.random(n) < 0.4
    x = (
        rng.normal(size=(n, 3))
        + np.array([1.0, 2.0, -1.0])
        + g[:, None] * np.array([0.5, -0.3, 0.2])
    )
    y = 1 + x @ np.array([1.0, 0.5, -0.7]) + 0.8 * g + 0.3 * x[:, 0] * g + rng.normal(size=n)
    cols = {"y": y, "g": g.astype(int), "x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2]}
    if categorical:
        probs_b, probs_a = [0.5, 0.3, 0.2], [0.3, 0.3, 0.4]
        levels = np.array(["low", "mid", "high"])
        code = np.where(g, rng.choice(3, size=n, p=probs_a), rng.choice(3, size=n, p=probs_b))
        cols["level"] = levels[code]
        cols["y"] = y + np.array([0.0, 0.4, 1.1])[code] * (1 + 0.5 * g)
    return pl.DataFrame(cols)


def decompose_levels(df: pl.DataFrame, **kwargs) -> eh.Decomposition:
    """Decompose ``synthetic(..., categorical=True)`` over FACTORS plus the ``level`` category."""
    factors = {**FACTORS, "cat": ["level"]}
    return eh.decompose(df, outcome="y", group="g", factors=factors, groups=(0, 1), **kwargs)


# --- statsmodels oracle --------------------------------------------------------------------

STATSMODELS_TYPES = [
    ("pooled", "jann"),
    ("nuemark", "neumark"),
    ("cotton", "cotton"),
    ("reimers", "reimers"),
]


@pytest.mark.parametrize(("sm_type", "reference"), STATSMODELS_TYPES)
def test_twofold_equals_statsmodels(sm_type: str, reference: str) -> None:
    from statsmodels.stats.oaxaca import OaxacaBlinder

    df = synthetic()
    exog = np.column_stack(
        [
            np.ones(df.height),
            df.select("x1", "x2", "x3").to_numpy(),
            df["g"].to_numpy().astype(float),
        ]
    )
    # swap=False: statsmodels would otherwise swap the groups to make the gap positive
    sm = OaxacaBlinder(df["y"].to_numpy(), exog, 4, hasconst=True, swap=False)
    unexplained, explained, gap = sm.two_fold(two_fold_type=sm_type).params
    res = eh.decompose(
        df, outcome="y", group="g", factors=FACTORS, reference=reference, groups=(0, 1), n_boot=0
    )
    assert res.gap == pytest.approx(gap, abs=1e-8)
    assert res.explained == pytest.approx(explained, abs=1e-8)
    assert res.unexplained == pytest.approx(unexplained, abs=1e-8)


def test_threefold_equals_statsmodels_including_its_swap() -> None:
    from statsmodels.stats.oaxaca import OaxacaBlinder

    df = synthetic(seed=3)
    exog = np.column_stack(
        [
            np.ones(df.height),
            df.select("x1", "x2", "x3").to_numpy(),
            df["g"].to_numpy().astype(float),
        ]
    )
    sm = OaxacaBlinder(df["y"].to_numpy(), exog, 4, hasconst=True)  # default swap=True
    endow, coef, inter, gap = sm.three_fold().params
    # statsmodels made the gap positive; the same order here is groups=(higher, lower)
    means = df.group_by("g").agg(pl.col("y").mean()).sort("y", descending=True)
    order = tuple(means["g"].to_list())
    res = eh.decompose(
        df, outcome="y", group="g", factors=FACTORS, kind="threefold", groups=order, n_boot=0
    )
    assert gap > 0
    assert res.gap == pytest.approx(gap, abs=1e-8)
    assert res.endowments == pytest.approx(endow, abs=1e-8)
    assert res.coefficients == pytest.approx(coef, abs=1e-8)
    assert res.interaction == pytest.approx(inter, abs=1e-8)


# --- the R `oaxaca` package vignette (Hlavac), chicago data --------------------------------
# Published in the vignette's "Example: Wages of native and foreign-born workers": outcome
# real.wage = exp(ln.real.wage), group A = natives (foreign.born == 0), education dummies
# adjusted for the omitted category (high school).


@pytest.fixture(scope="module")
def chicago(data_dir: Path) -> pl.DataFrame:
    path = data_dir / "oaxaca" / "chicago.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    df = pl.read_csv(path, null_values=["NA", ""])
    education = (
        pl.when(pl.col("LTHS") == 1)
        .then(pl.lit("LTHS"))
        .when(pl.col("some.college") == 1)
        .then(pl.lit("some.college"))
        .when(pl.col("college") == 1)
        .then(pl.lit("college"))
        .when(pl.col("advanced.degree") == 1)
        .then(pl.lit("advanced.degree"))
        .otherwise(pl.lit("high.school"))
    )
    return df.with_columns(real_wage=pl.col("ln.real.wage").exp(), education=education)


CHICAGO_FACTORS = {"demographic": ["age", "female"], "education": ["education"]}


def decompose_chicago(chicago: pl.DataFrame, **kwargs) -> eh.Decomposition:
    """Natives (0) against the foreign-born (1): the vignette's real-wage decomposition."""
    return eh.decompose(
        chicago,
        outcome="real_wage",
        group="foreign.born",
        factors=CHICAGO_FACTORS,
        groups=(0, 1),
        **kwargs,
    )


def chicago_design(df: pl.DataFrame):
    return build_design(
        df,
        outcome="real_wage",
        group="foreign.born",
        factors=CHICAGO_FACTORS,
        weights=None,
        groups=(0, 1),
        reference=None,
    )


def test_chicago_sample_and_means(chicago: pl.DataFrame) -> None:
    res = decompose_chicago(chicago, n_boot=0)
    assert res.n == {0: 287, 1: 379}
    assert res.n_dropped == 712 - 666
    assert res.means[0] == pytest.approx(17.58282, abs=5e-6)
    assert res.means[1] == pytest.approx(14.56725, abs=5e-6)
    assert res.gap == pytest.approx(3.015574, abs=1e-6)


def test_chicago_threefold(chicago: pl.DataFrame) -> None:
    res = decompose_chicago(chicago, kind="threefold", n_boot=0)
    assert res.endowments == pytest.approx(1.6165339, abs=1e-6)
    assert res.coefficients == pytest.approx(2.8333261, abs=1e-6)
    assert res.interaction == pytest.approx(-1.4342857, abs=1e-6)


# (R weight, reference spec, explained, unexplained, unexplained A, unexplained B)
CHICAGO_TWOFOLD = [
    (0.0, ("weight", 0.0), 1.6165339, 1.399040, 1.399040, 0.0),
    (1.0, ("weight", 1.0), 0.1822482, 2.833326, 0.0, 2.8333261),
    (0.5, "reimers", 0.8993911, 2.116183, 0.6995202, 1.4166630),
    # R's 4th row weighs beta_A by the printed 0.5800562 (= 413/712, foreign-born share of all
    # rows, missing wages included); evenhand's "cotton" uses n_A/n of the rows used instead.
    (0.5800562, ("weight", 0.5800562), 0.7845676, 2.231007, 0.5875183, 1.6434883),
    (-1.0, "neumark", 1.3557222, 1.659852, 0.9445705, 0.7152816),
    (-2.0, "jann", 0.9525717, 2.063003, 0.0, 2.0630026),
]


@pytest.mark.parametrize(("weight", "ref", "expl", "unexpl", "ua", "ub"), CHICAGO_TWOFOLD)
def test_chicago_twofold(chicago, weight, ref, expl, unexpl, ua, ub) -> None:
    est = oaxaca(
        chicago_design(chicago),
        reference=ref,
        kind="twofold",
        n_boot=0,
        rng=np.random.default_rng(0),
    )
    got = [
        est.value[est.index(c, "total")]
        for c in ("explained", "unexplained", "unexplained_a", "unexplained_b")
    ]
    np.testing.assert_allclose(got, [expl, unexpl, ua, ub], rtol=0, atol=1e-6)


def test_chicago_public_references_match_r_rows(chicago: pl.DataFrame) -> None:
    for ref, expl in (
        ("neumark", 1.3557222),
        ("jann", 0.9525717),
        ("reimers", 0.8993911),
        (1, 1.6165339),
        (0, 0.1822482),
    ):
        res = decompose_chicago(chicago, reference=ref, n_boot=0)
        assert res.explained == pytest.approx(expl, abs=1e-6), ref


def test_chicago_detailed_neumark_unexplained_split(chicago: pl.DataFrame) -> None:
    res = decompose_chicago(chicago, reference="neumark", n_boot=0)
    bv = res.by_variable
    published = {  # variable, level: (unexplained A, unexplained B)
        ("age", None): (4.3191008, 2.3980443),
        ("female", None): (-0.8285489, -0.4832824),
        ("education", "college"): (0.3777076, 0.3428246),
    }
    for (var, level), (ua, ub) in published.items():
        rows = bv.filter(pl.col("variable") == var)
        rows = rows.filter(pl.col("level").is_null() if level is None else pl.col("level") == level)
        got = dict(zip(rows["component"], rows["contribution"], strict=True))
        assert got["unexplained_a"] == pytest.approx(ua, abs=1e-6)
        assert got["unexplained_b"] == pytest.approx(ub, abs=1e-6)


# --- properties ---------------------------------------------------------------------------


@pytest.mark.parametrize("reference", ["jann", "neumark", "cotton", "reimers", 0, 1])
def test_parts_add_up(reference) -> None:
    df = synthetic(1500, categorical=True)
    res = decompose_levels(df, reference=reference, n_boot=30, seed=0)
    assert res.explained + res.unexplained == pytest.approx(res.gap, abs=1e-12)
    bf = res.by_factor
    for comp, total in (("explained", res.explained), ("unexplained", res.unexplained)):
        assert bf.filter(pl.col("component") == comp)["contribution"].sum() == pytest.approx(
            total, abs=1e-10
        )
        bv = res.by_variable.filter(pl.col("component") == comp)
        assert bv["contribution"].sum() == pytest.approx(total, abs=1e-10)
    assert (bf["ci_low"] <= bf["contribution"] + 1e-12).all()
    assert (bf["ci_high"] >= bf["contribution"] - 1e-12).all()


def test_threefold_parts_add_up_and_twofold_with_b_reference_matches() -> None:
    df = synthetic(1200, seed=5, categorical=True)
    three = decompose_levels(df, kind="threefold", n_boot=0)
    two = decompose_levels(df, reference=1, n_boot=0)
    assert three.endowments + three.coefficients + three.interaction == pytest.approx(three.gap)
    assert two.explained == pytest.approx(three.endowments, abs=1e-12)
    assert two.unexplained == pytest.approx(three.coefficients + three.interaction, abs=1e-12)


def test_yun_normalisation_makes_detail_independent_of_the_omitted_level() -> None:
    df = synthetic(2000, seed=2, categorical=True)
    renamed = df.with_columns(pl.col("level").replace({"mid": "a_mid"}))  # new baseline
    one = decompose_levels(df, n_boot=0).by_variable.filter(pl.col("variable") == "level")
    two = decompose_levels(renamed, n_boot=0).by_variable.filter(pl.col("variable") == "level")
    one = one.with_columns(pl.col("level").replace({"mid": "a_mid"})).sort("component", "level")
    two = two.sort("component", "level")
    np.testing.assert_allclose(one["contribution"], two["contribution"], atol=1e-10)
    assert one.height == 4 * 3  # every level, the omitted one included


def test_weights_of_two_equal_duplicated_rows() -> None:
    df = synthetic(400, seed=7)
    dup = df.filter(pl.col("x3") > 0)
    weighted = df.with_columns(w=pl.when(pl.col("x3") > 0).then(2.0).otherwise(1.0))
    kw = {"outcome": "y", "group": "g", "factors": FACTORS, "groups": (0, 1), "n_boot": 0}
    a = eh.decompose(pl.concat([df, dup]), **kw)
    b = eh.decompose(weighted, weights="w", **kw)
    np.testing.assert_allclose(a.by_factor["contribution"], b.by_factor["contribution"], atol=1e-10)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), perm_seed=st.integers(0, 10_000))
def test_row_order_does_not_matter(seed: int, perm_seed: int) -> None:
    df = synthetic(300, seed=seed)
    shuffled = df.sample(fraction=1.0, shuffle=True, seed=perm_seed)
    kw = {"outcome": "y", "group": "g", "factors": FACTORS, "groups": (0, 1), "n_boot": 0}
    np.testing.assert_allclose(
        eh.decompose(df, **kw).by_variable["contribution"],
        eh.decompose(shuffled, **kw).by_variable["contribution"],
        atol=1e-9,
    )


def test_bootstrap_and_delta_standard_errors_agree_within_ten_percent() -> None:
    df = synthetic(50_000, seed=11, categorical=True)
    for kind in ("twofold", "threefold"):
        res = decompose_levels(
            df,
            kind=kind,
            n_boot=1000,  # the relative SE of a bootstrap SE is ~2% with 1000 replicates
            seed=0,
        )
        table = pl.concat([res.overall, res.by_factor.drop("factor")])
        # structural zeros have no error; (products of two near-zero terms would make the
        # first-order delta method degenerate, which is why the regressors have non-zero means)
        table = table.filter(pl.col("se_delta") > 1e-8)
        ratio = (table["se"] / table["se_delta"]).to_numpy()
        assert np.all(np.abs(ratio - 1) < 0.10), ratio


def test_seed_reproduces_intervals() -> None:
    df = synthetic(800)
    kw = {"outcome": "y", "group": "g", "factors": FACTORS, "n_boot": 50, "seed": 42}
    a, b = eh.decompose(df, **kw), eh.decompose(df, **kw)
    assert a.by_factor.equals(b.by_factor)


# --- engines and outputs ------------------------------------------------------------------


def test_pandas_in_pandas_out_and_other_engines_agree() -> None:
    df = synthetic(600)
    kw = {"outcome": "y", "group": "g", "factors": FACTORS, "n_boot": 0}
    ref = eh.decompose(df, **kw).by_factor
    out = eh.decompose(df.to_pandas(), **kw).by_factor
    assert isinstance(out, pd.DataFrame)
    np.testing.assert_allclose(out["contribution"], ref["contribution"])
    import duckdb

    relation = duckdb.from_arrow(df.to_arrow())
    for data in (df.lazy(), df.to_arrow(), df.to_dict(as_series=False), relation):
        got = eh.decompose(data, **kw).by_factor
        assert isinstance(got, pl.DataFrame)
        np.testing.assert_allclose(got["contribution"], ref["contribution"])


def test_caller_data_not_mutated() -> None:
    pdf = synthetic(300).to_pandas()
    before = pdf.copy()
    eh.decompose(pdf, outcome="y", group="g", factors=FACTORS, n_boot=5, seed=0)
    pd.testing.assert_frame_equal(pdf, before)


def test_to_dict_is_json_and_chart_is_a_waterfall() -> None:
    res = eh.decompose(synthetic(500), outcome="y", group="g", factors=FACTORS, n_boot=20, seed=0)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["gap"] == pytest.approx(res.gap)
    assert {r["factor"] for r in d["by_factor"]} == {"first", "second", "(intercept)"}
    spec = res.chart().to_dict()
    values = spec["data"]["values"]
    assert values[-1]["label"] == "gap"
    assert values[-2]["end"] == pytest.approx(res.gap)  # the steps end at the gap
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["bar", "rule"]
    explained = values[0]  # the whisker is the step's interval, placed where the bar ends
    assert explained["ci_low_end"] == pytest.approx(explained["start"] + explained["ci_low"])
    assert repr(res).startswith("Decomposition(oaxaca, 0 - 1: gap=")


def test_altair_is_imported_lazily() -> None:
    import subprocess
    import sys

    code = (
        "import sys, evenhand as eh, numpy as np; "
        "eh.decompose({'y': np.r_[1.,2,3,5,6,9], 'g': [0,0,0,1,1,1], "
        "'x': np.r_[0.,1,3,1,2,2.5]}, outcome='y', group='g', factors={'f': ['x']}, "
        "n_boot=0); print('altair' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_docstring_examples_run() -> None:
    import doctest

    import evenhand._decompose._decompose as mod
    import evenhand._decompose._result as result_mod

    for module in (mod, result_mod):
        assert doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


# --- bad input ----------------------------------------------------------------------------


def test_constant_outcome_within_a_group() -> None:
    df = synthetic(200).with_columns(y=pl.when(pl.col("g") == 1).then(3.0).otherwise(pl.col("y")))
    with pytest.raises(EvenhandError, match=r"outcome 'y' is constant \(3.0\) within group 1"):
        eh.decompose(df, outcome="y", group="g", factors=FACTORS, n_boot=0)


def test_missing_factor_column() -> None:
    with pytest.raises(EvenhandError, match=r"Column 'x4' \(listed in factor group 'second'\)"):
        eh.decompose(
            synthetic(100),
            outcome="y",
            group="g",
            factors={"first": ["x1"], "second": ["x4"]},
            n_boot=0,
        )


def test_category_present_in_one_group_only() -> None:
    df = synthetic(300, categorical=True).with_row_index()
    first_b = df.filter(pl.col("g") == 1)["index"][:3]
    df = df.with_columns(
        level=pl.when(pl.col("index").is_in(first_b.implode()))
        .then(pl.lit("rare"))
        .otherwise(pl.col("level"))
    )
    with pytest.raises(EvenhandError, match=r"level 'rare' only in group 1"):
        eh.decompose(df, outcome="y", group="g", factors={"c": ["level"]}, n_boot=0)


def test_regressor_constant_within_a_group() -> None:
    df = synthetic(300).with_columns(x2=pl.when(pl.col("g") == 0).then(1.0).otherwise(pl.col("x2")))
    with pytest.raises(EvenhandError, match=r"Column 'x2' .* is constant \(1.0\) within group 0"):
        eh.decompose(df, outcome="y", group="g", factors=FACTORS, n_boot=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "blinder"}, r"'method' parameter .* got 'blinder'"),
        ({"kind": "fourfold"}, r"'kind' parameter .* got 'fourfold'"),
        ({"reference": "pooled"}, r"'reference' parameter .* got 'pooled'"),
        ({"n_boot": -1}, r"'n_boot' .* got -1"),
        ({"confidence_level": 95}, r"'confidence_level' .* got 95"),
        ({"groups": (0, 2)}, r"'groups' argument .* got \(0, 2\)"),
        ({"factors": {}}, r"'factors' argument must be a non-empty dict"),
        ({"factors": {"a": ["x1"], "b": ["x1"]}}, r"Column 'x1' is listed in factor groups"),
        ({"factors": {"a": ["y"]}}, r"Column 'y' in factor group 'a' is also the outcome"),
        ({"method": "fairlie", "kind": "threefold"}, r"kind='threefold' is defined for"),
        ({"method": "fairlie", "reference": "cotton"}, r"reference='cotton' is not defined"),
        ({"seed": "x"}, r"'seed' parameter .* got 'x'"),
        ({"kind": "threefold", "reference": "jann"}, r"threefold decomposition has none"),
    ],
)
def test_bad_options(kwargs, message) -> None:
    base = {"outcome": "y", "group": "g", "factors": FACTORS, "n_boot": 0}
    with pytest.raises(EvenhandError, match=message):
        eh.decompose(synthetic(200), **{**base, **kwargs})


def test_group_needs_two_values() -> None:
    df = synthetic(300).with_columns(g=pl.Series(np.arange(300) % 3))
    with pytest.raises(EvenhandError, match=r"exactly two distinct values .* got 3"):
        eh.decompose(df, outcome="y", group="g", factors=FACTORS, n_boot=0)


def test_non_numeric_outcome() -> None:
    df = synthetic(100).with_columns(y=pl.lit("a"))
    with pytest.raises(EvenhandError, match=r"outcome column 'y' must be numeric"):
        eh.decompose(df, outcome="y", group="g", factors=FACTORS, n_boot=0)


def test_model_is_rejected_for_oaxaca() -> None:
    with pytest.raises(
        EvenhandError, match=r"method='oaxaca' always fits OLS .* Got model='logit'"
    ):
        eh.decompose(synthetic(100), outcome="y", group="g", factors=FACTORS, model="logit")


def test_rare_category_singular_replicates_are_skipped() -> None:
    df = synthetic(400, seed=1, categorical=True).with_row_index()
    first_a = df.filter(pl.col("g") == 0)["index"][:2]
    first_b = df.filter(pl.col("g") == 1)["index"][:2]
    rare = pl.col("index").is_in(pl.concat([first_a, first_b]).implode())
    df = df.with_columns(level=pl.when(rare).then(pl.lit("rare")).otherwise(pl.col("level")))
    res = eh.decompose(
        df, outcome="y", group="g", factors={**FACTORS, "c": ["level"]}, n_boot=100, seed=0
    )
    assert res.by_factor["ci_low"].is_finite().all()


@pytest.mark.parametrize("bad", [-1.0, np.inf])
def test_bad_weight_is_named_in_the_error(bad: float) -> None:
    cohort = eh.datasets.make_cardiac_cohort(400, seed=0)
    frame = cohort.frame.with_columns(pl.lit(1.0).alias("w"))
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(bad).otherwise(pl.col("w")).alias("w"))
    with pytest.raises(EvenhandError, match=rf"weights column 'w'.*got {bad!r} \(1 such rows\)"):
        eh.decompose(frame, outcome="complication", group="group", factors=cohort.factors,
                     weights="w", n_boot=0)
