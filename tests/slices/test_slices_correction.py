"""find_slices(correction=...): Holm against statsmodels on the whole family, CLI option."""

from __future__ import annotations

import itertools
import json

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

import evenhand
from evenhand import EvenhandError
from evenhand._slices._stats import Family, holm_adjust
from evenhand.cli import main

from .test_slices import planted
from .test_slices_cli import planted_csv  # noqa: F401  (fixture)

LEVELS = {"g0": list("abc"), "g1": list("uvwx"), "g2": list("pq"), "g3": list("klm")}


def _data(seed: int, n: int, binary: bool) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Four categorical features; several levels err more, so many p-values are small."""
    rng = np.random.default_rng(seed)
    columns = {f: rng.choice(levels, n) for f, levels in LEVELS.items()}
    shift = (0.5 * (columns["g0"] == "a") + 0.3 * (columns["g1"] == "u")
             + 0.2 * (columns["g3"] == "k"))
    if binary:
        loss = (rng.random(n) < 0.15 * (1 + shift)).astype(float)
    else:
        loss = rng.exponential(1 + shift)
    return columns, loss


def _raw_p(loss: np.ndarray, mask: np.ndarray, binary: bool) -> float:
    """One-sided p-value of "the slice errs more than the other rows", by the peers."""
    assert mask.sum() >= 2, "the oracle needs two rows per slice"
    if binary:
        counts = [loss[mask].sum(), loss[~mask].sum()]
        return float(proportions_ztest(counts, [mask.sum(), (~mask).sum()],
                                       alternative="larger")[1])
    return float(stats.ttest_ind(loss[mask], loss[~mask], equal_var=False,
                                 alternative="greater").pvalue)


def _family(columns, loss, max_order, binary) -> dict[str, float]:
    """Raw p-value of every conjunction of at most ``max_order`` predicates, by label."""
    family = {}
    for order in range(1, max_order + 1):
        for feats in itertools.combinations(LEVELS, order):
            for values in itertools.product(*(LEVELS[f] for f in feats)):
                mask = np.ones(loss.size, dtype=bool)
                for f, v in zip(feats, values, strict=True):
                    mask &= columns[f] == v
                label = " & ".join(f"{f} == '{v}'" for f, v in zip(feats, values, strict=True))
                family[label] = _raw_p(loss, mask, binary)
    return family


# with min_support=1 and every level erring, nothing is pruned at these orders (ranking by
# significance has no bound; lift at order 1 has no parents): the family is the whole
# lattice, enumerated independently above
CASES = {
    "0/1 loss, order 1, lift": (True, 1, "lift"),
    "0/1 loss, order 2, significance": (True, 2, "significance"),
    "continuous loss, order 2, significance": (False, 2, "significance"),
}


@pytest.mark.parametrize("case", CASES)
def test_holm_equals_statsmodels_on_the_whole_family(case):
    binary, max_order, rank_by = CASES[case]
    columns, loss = _data(7, 3000, binary)
    kwargs = {"features": list(LEVELS), "loss": loss, "max_order": max_order,
              "min_support": 1, "top_k": 40, "rank_by": rank_by, "return_stats": True}
    holm, info = evenhand.find_slices(columns, correction="holm", **kwargs)
    bonf, _ = evenhand.find_slices(columns, **kwargs)
    family = _family(columns, loss, max_order, binary)
    assert info.candidates_evaluated == info.lattice_size == len(family)
    assert info.correction == "holm"
    expected = dict(zip(family, multipletests(list(family.values()), method="holm")[1],
                        strict=True))
    m = len(family)
    assert len(holm) >= 4
    rel = 1e-9 if binary else 1e-7
    for h, b in zip(holm.iter_rows(named=True), bonf.iter_rows(named=True), strict=True):
        assert h["slice"] == b["slice"]
        assert h["p_value"] == pytest.approx(expected[h["slice"]], rel=rel, abs=1e-300)
        assert b["p_value"] == pytest.approx(min(1.0, m * family[b["slice"]]), rel=rel,
                                             abs=1e-300)
    # the comparison is not vacuous: Holm is strictly smaller somewhere below 1
    assert (holm["p_value"] < bonf["p_value"]).any()


@pytest.mark.parametrize("rank_by", ["score", "lift", "significance"])
def test_holm_never_exceeds_bonferroni_and_changes_nothing_else(rank_by):
    df, _ = planted(2, n=8000)
    feats = ["a", "b", "c", "noise0", "noise1", "age"]
    default, info_d = evenhand.find_slices(df, features=feats, loss="err", rank_by=rank_by,
                                           return_stats=True)
    bonf = evenhand.find_slices(df, features=feats, loss="err", rank_by=rank_by,
                                correction="bonferroni")
    holm, info_h = evenhand.find_slices(df, features=feats, loss="err", rank_by=rank_by,
                                        correction="holm", return_stats=True)
    assert default.equals(bonf)
    assert info_d.correction == "bonferroni"
    assert holm.drop("p_value").equals(bonf.drop("p_value"))
    assert info_h.candidates_evaluated == info_d.candidates_evaluated
    assert (holm["p_value"] <= bonf["p_value"]).all()
    assert (holm["p_value"] >= 0).all()


def test_holm_on_a_continuous_loss_keeps_ranking_by_score_unchanged():
    columns, loss = _data(3, 2000, binary=False)
    kwargs = {"features": list(LEVELS), "loss": loss, "max_order": 3, "return_stats": True}
    bonf, info_b = evenhand.find_slices(columns, **kwargs)
    holm, info_h = evenhand.find_slices(columns, correction="holm", **kwargs)
    assert info_b.candidates_evaluated == info_h.candidates_evaluated
    assert holm.drop("p_value").equals(bonf.drop("p_value"))
    assert (holm["p_value"] <= bonf["p_value"]).all()
    # a slice with a smaller raw p-value never gets a larger Holm p-value
    raw = bonf["p_value"].to_numpy() / info_b.candidates_evaluated
    order = np.argsort(raw, kind="stable")
    assert np.all(np.diff(holm["p_value"].to_numpy()[order]) >= 0)


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60),
    repeats=st.integers(0, 5),
)
def test_holm_adjust_equals_statsmodels(values, repeats):
    family = np.array(values + values[:repeats])  # ties included
    expected = multipletests(family, method="holm")[1]
    np.testing.assert_allclose(holm_adjust(family, family), expected, rtol=1e-12, atol=0)
    # a member recomputed with a rounding difference still gets its Holm value
    nudged = np.nextafter(family, 2.0)
    np.testing.assert_allclose(holm_adjust(nudged, family), expected, rtol=1e-12, atol=1e-300)
    nudged = np.nextafter(family, -1.0).clip(0.0)
    np.testing.assert_allclose(holm_adjust(nudged, family), expected, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("with_dof", [False, True])
@pytest.mark.parametrize("quantile", [0.0, 0.01, 0.5, 1.0])
def test_family_computes_only_the_p_values_holm_needs(with_dof, quantile):
    """Members above the largest queried p-value may be 1: Holm's values do not change."""
    rng = np.random.default_rng(11)
    m = 5000
    statistic = np.concatenate([rng.normal(0.5, 2.0, m - 4), [np.inf, -np.inf, 40.0, 0.0]])
    dof = rng.uniform(1.0, 60.0, m) if with_dof else None
    batches = np.array_split(np.arange(m), 7)
    family = Family([], [])
    for rows in batches:
        family.add(statistic[rows], None if dof is None else dof[rows])
    assert family.size == m
    exact = stats.norm.sf(statistic) if dof is None else stats.t.sf(statistic, dof)
    queried = exact[exact <= np.quantile(exact, quantile)][:50]
    partial = family.pvalues(up_to=float(queried.max()))
    if quantile < 0.5:  # the tail function ran on few members
        assert (partial < 1).sum() < m / 2
    np.testing.assert_allclose(partial[exact <= queried.max()], exact[exact <= queried.max()],
                               rtol=1e-10, atol=1e-300)
    expected = multipletests(exact, method="holm")[1]
    index = np.flatnonzero(np.isin(exact, queried))
    np.testing.assert_allclose(holm_adjust(exact[index], partial), expected[index], rtol=1e-10,
                               atol=1e-300)


def test_zero_overall_error_gives_an_empty_table_with_holm():
    data = {"g": np.array(["a", "b"] * 20), "e": np.zeros(40)}
    result, info = evenhand.find_slices(data, features=["g"], loss="e", correction="holm",
                                        return_stats=True)
    assert result.is_empty()
    assert info.correction == "holm"


@pytest.mark.parametrize("value", ["BH", "Holm", None, 1])
def test_bad_correction_is_named(value):
    data = {"g": np.array(["a", "b"] * 20), "e": np.tile([0.0, 1.0], 20)}
    message = (r"The 'correction' parameter of find_slices must be one of "
               rf"\('bonferroni', 'holm'\)\. Got {value!r} instead\.")
    with pytest.raises(EvenhandError, match=message):
        evenhand.find_slices(data, features=["g"], loss="e", correction=value)


def test_cli_correction_option(planted_csv, tmp_path, capsys, monkeypatch):  # noqa: F811
    monkeypatch.setenv("COLUMNS", "200")
    args = ["slices", str(planted_csv), "--features", "sex,region,age", "--loss", "loss",
            "--top-k", "5"]
    target = tmp_path / "holm.json"
    code = main([*args, "--correction", "holm", "--json", str(target)])
    out = capsys.readouterr().out
    assert code == 0
    assert "p (Holm)" in out
    payload = json.loads(target.read_text())
    assert payload["correction"] == "holm"
    assert payload["search"]["correction"] == "holm"
    assert payload["slices"][0]["slice"] == "sex == 'F' & region == 'south'"
    library = evenhand.find_slices(pl.read_csv(planted_csv), features=["sex", "region", "age"],
                                   loss="loss", top_k=5, correction="holm")
    assert [s["p_value"] for s in payload["slices"]] == library["p_value"].to_list()
    assert main(args) == 0
    assert "p (Bonf.)" in capsys.readouterr().out


def test_cli_bad_correction_exits_2(planted_csv, capsys):  # noqa: F811
    code = main(["slices", str(planted_csv), "--features", "sex", "--loss", "loss",
                 "--correction", "fdr"])
    err = capsys.readouterr().err
    assert code == 2
    assert "The 'correction' parameter of find_slices must be one of" in err
    assert "Got 'fdr' instead." in err
    assert err.count("\n") == 1
