from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from aif360.algorithms.preprocessing import Reweighing as AifReweighing
from aif360.datasets import BinaryLabelDataset
from fairlearn.preprocessing import CorrelationRemover as FairlearnCorrelationRemover
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from evenhand import EvenhandError
from evenhand.mitigate import CorrelationRemover, DisparateImpactRemover, Reweighing


def _aif_weights(y, a, w=None):
    df = pd.DataFrame({"x": np.zeros(len(y)), "a": a.astype(float), "y": y.astype(float)})
    kwargs = {}
    if w is not None:
        df["w"] = w
        kwargs["instance_weights_name"] = "w"
    ds = BinaryLabelDataset(df=df, label_names=["y"], protected_attribute_names=["a"],
                            favorable_label=1.0, unfavorable_label=0.0, **kwargs)
    rw = AifReweighing(unprivileged_groups=[{"a": 0.0}], privileged_groups=[{"a": 1.0}])
    return rw.fit_transform(ds).instance_weights


@pytest.mark.parametrize("weighted", [False, True])
def test_reweighing_equals_aif360(weighted, make_synthetic):
    X, y, a = make_synthetic(5_000, seed=1)
    w = np.random.default_rng(2).uniform(0.2, 3.0, len(y)) if weighted else None
    ours = Reweighing().fit(X, y, sensitive_features=a, sample_weight=w).sample_weight_
    np.testing.assert_allclose(ours, _aif_weights(y, a, w), rtol=1e-12, atol=1e-12)


def test_reweighing_on_compas_equals_aif360(compas_data):
    X, y, race = compas_data
    a = (race == "Caucasian").astype(int)
    ours = Reweighing().fit(X, y, sensitive_features=race).sample_weight_
    np.testing.assert_allclose(ours, _aif_weights(y, a), rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.tuples(st.integers(1, 20), st.integers(1, 20)), min_size=1, max_size=4),
    seed=st.integers(0, 1000),
)
def test_reweighing_makes_label_independent_of_group(counts, seed):
    # every group has both labels (otherwise independence is impossible)
    a = np.concatenate([np.full(n0 + n1, g) for g, (n0, n1) in enumerate(counts)])
    y = np.concatenate([np.r_[np.zeros(n0), np.ones(n1)] for n0, n1 in counts]).astype(int)
    order = np.random.default_rng(seed).permutation(len(y))
    a, y = a[order], y[order]
    w = Reweighing().fit(np.zeros((len(y), 1)), y, sensitive_features=a).sample_weight_
    overall = np.average(y, weights=w)
    for g in np.unique(a):
        assert np.average(y[a == g], weights=w[a == g]) == pytest.approx(overall, abs=1e-12)
        assert w[a == g].sum() == pytest.approx((a == g).sum(), abs=1e-9)  # group totals kept
    assert w.sum() == pytest.approx(len(y), abs=1e-9)


def test_reweighing_with_estimator_and_new_rows(make_synthetic):
    X, y, a = make_synthetic(2_000)
    rw = Reweighing(LogisticRegression()).fit(X, y, sensitive_features=a)
    plain = LogisticRegression().fit(X, y, sample_weight=rw.sample_weight_)
    np.testing.assert_allclose(rw.predict_proba(X), plain.predict_proba(X))
    np.testing.assert_allclose(
        rw.compute_sample_weight(y[:10], sensitive_features=a[:10]), rw.sample_weight_[:10]
    )
    with pytest.raises(EvenhandError, match=r"fitted without an estimator"):
        Reweighing().fit(X, y, sensitive_features=a).predict(X)
    with pytest.raises(EvenhandError, match=r"label 5, which is not one of the fitted"):
        rw.compute_sample_weight([5], sensitive_features=[0])


def test_correlation_remover_equals_fairlearn(make_synthetic):
    X, _y, a = make_synthetic(3_000, n_groups=3)
    onehot = np.eye(3)[a]
    for alpha in (1.0, 0.4):
        ours = CorrelationRemover(alpha=alpha).fit_transform(X, sensitive_features=a)
        theirs = FairlearnCorrelationRemover(sensitive_feature_ids=[4, 5, 6], alpha=alpha)
        expected = theirs.fit_transform(np.column_stack((X, onehot)))
        np.testing.assert_allclose(ours, expected, atol=1e-10)
    full = CorrelationRemover().fit_transform(X, sensitive_features=a)
    corr = np.corrcoef(np.column_stack((full, onehot)).T)[:4, 4:]
    assert np.abs(corr).max() < 1e-10


def test_disparate_impact_remover_repair_levels(make_synthetic):
    X, _y, a = make_synthetic(4_000, seed=3)
    untouched = DisparateImpactRemover(repair_level=0.0).fit_transform(X, sensitive_features=a)
    np.testing.assert_allclose(untouched, X)
    full = DisparateImpactRemover(repair_level=1.0).fit_transform(X, sensitive_features=a)
    half = DisparateImpactRemover(repair_level=0.5).fit_transform(X, sensitive_features=a)
    np.testing.assert_allclose(half, (X + full) / 2)
    gap = lambda Z: abs(np.median(Z[a == 0, 0]) - np.median(Z[a == 1, 0]))  # noqa: E731
    assert gap(X) > 0.5
    assert gap(full) < 0.01
    # quantiles of the repaired feature agree across groups; ranks within a group are kept
    qs = np.linspace(0.05, 0.95, 19)
    np.testing.assert_allclose(np.quantile(full[a == 0, 0], qs),
                               np.quantile(full[a == 1, 0], qs), atol=0.02)
    for g in (0, 1):
        order = np.argsort(X[a == g, 0])
        assert np.all(np.diff(full[a == g, 0][order]) >= -1e-12)


def test_pre_processing_errors(make_synthetic):
    X, y, a = make_synthetic(300)
    with pytest.raises(EvenhandError, match=r"'repair_level' .* in \[0, 1\]; got 1.5"):
        DisparateImpactRemover(repair_level=1.5).fit(X, sensitive_features=a)
    with pytest.raises(EvenhandError, match=r"'alpha' .* in \[0, 1\]; got -0.1"):
        CorrelationRemover(alpha=-0.1).fit(X, sensitive_features=a)
    with pytest.raises(EvenhandError, match=r"CorrelationRemover.fit requires"):
        CorrelationRemover().fit(X)
    cr = CorrelationRemover().fit(X, sensitive_features=a)
    with pytest.raises(EvenhandError, match=r"CorrelationRemover.transform requires"):
        cr.transform(X)
    with pytest.raises(EvenhandError, match=r"group 'c', which was not seen"):
        DisparateImpactRemover().fit(X, sensitive_features=a.astype(str)).transform(
            X[:2], sensitive_features=["0", "c"]
        )
    with pytest.raises(EvenhandError, match=r"Reweighing.fit requires"):
        Reweighing().fit(X, y)
