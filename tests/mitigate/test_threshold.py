from __future__ import annotations

import numpy as np
import pytest
from fairlearn.postprocessing import ThresholdOptimizer as FairlearnThresholdOptimizer
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import ConvexHull
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from evenhand import EvenhandError
from evenhand.mitigate import ThresholdOptimizer


def _fairlearn(lr, X, y, a, constraints="equalized_odds"):
    fl = FairlearnThresholdOptimizer(
        estimator=lr, constraints=constraints, prefit=True, predict_method="predict_proba"
    ).fit(X, y, sensitive_features=a)
    return fl._pmf_predict(X, sensitive_features=a)[:, 1]


def _best_eo_accuracy(scores, y, a, grid=20001):
    """Independent oracle: max accuracy over the intersection of the groups' ROC hulls.

    Hulls from qhull; for each FPR on a fine grid the common TPR is the lowest upper hull.
    """
    xs = np.linspace(0, 1, grid)
    upper = []
    for g in np.unique(a):
        s, t = scores[a == g], y[a == g]
        thr = np.unique(s)[::-1]
        tpr = np.r_[0, [(s[t == 1] >= v).mean() for v in thr]]
        fpr = np.r_[0, [(s[t == 0] >= v).mean() for v in thr]]
        pts = np.unique(np.column_stack((fpr, tpr)), axis=0)
        hull = pts[ConvexHull(pts).vertices] if len(pts) > 2 else pts
        hull = hull[hull[:, 1] >= hull[:, 0] - 1e-12]
        order = np.lexsort((-hull[:, 1], hull[:, 0]))
        hx, hy = hull[order, 0], hull[order, 1]
        upper.append(np.interp(xs, hx, np.maximum.accumulate(hy)))
    tpr = np.min(upper, axis=0)
    pos, neg = y.sum(), (1 - y).sum()
    return float(np.max((pos * tpr + neg * (1 - xs)) / len(y)))


def test_equalized_odds_matches_fairlearn_on_synthetic(make_synthetic, fair_rates, exp_accuracy):
    X, y, a = make_synthetic(20_000, n_groups=3)
    lr = LogisticRegression().fit(X, y)
    ours = ThresholdOptimizer(lr, prefit=True, random_state=0).fit(X, y, sensitive_features=a)
    p = ours.predict_proba(X, sensitive_features=a)[:, 1]
    pf = _fairlearn(lr, X, y, a)
    assert fair_rates(p, y, a)["eo"] <= 1e-9
    assert exp_accuracy(p, y) >= exp_accuracy(pf, y) - 0.002
    assert ours.training_accuracy_ == pytest.approx(exp_accuracy(p, y), abs=1e-9)
    # the realised (randomised) predictions stay within the done-when bound too
    realised = (ours.predict(X, sensitive_features=a) == 1).astype(float)
    assert fair_rates(realised, y, a)["eo"] <= 0.01


def test_equalized_odds_on_compas(compas_data, fair_rates, exp_accuracy):
    X, y, a = compas_data
    lr = LogisticRegression(max_iter=1000).fit(X, y)
    ours = ThresholdOptimizer(lr, prefit=True, random_state=0).fit(X, y, sensitive_features=a)
    p = ours.predict_proba(X, sensitive_features=a)[:, 1]
    realised = (ours.predict(X, sensitive_features=a) == 1).astype(float)
    assert fair_rates(p, y, a)["eo"] <= 1e-9
    assert fair_rates(realised, y, a)["eo"] <= 0.01
    # the LP optimum equals an independent brute-force optimum over the hull intersection
    best = _best_eo_accuracy(lr.predict_proba(X)[:, 1], y, a)
    assert exp_accuracy(p, y) == pytest.approx(best, abs=1e-4)
    pf = _fairlearn(lr, X, y, a)
    fl_eo = fair_rates(pf, y, a)["eo"]
    # fairlearn's grid solution is not equalized-odds feasible on COMPAS (measured EO
    # difference 0.064), so its accuracy is not attainable under the constraint; compare
    # only when it is feasible.
    if fl_eo <= 0.01:
        assert exp_accuracy(p, y) >= exp_accuracy(pf, y) - 0.002
    else:
        assert exp_accuracy(p, y) >= best - 1e-4


@pytest.mark.parametrize(
    ("constraints", "key"), [("demographic_parity", "dp"), ("equal_opportunity", "tpr")]
)
def test_other_constraints_match_fairlearn(constraints, key, make_synthetic, fair_rates,
                                           exp_accuracy):
    X, y, a = make_synthetic(10_000, seed=3)
    lr = LogisticRegression().fit(X, y)
    ours = ThresholdOptimizer(lr, constraints=constraints, prefit=True).fit(
        X, y, sensitive_features=a
    )
    p = ours.predict_proba(X, sensitive_features=a)[:, 1]
    fl_name = "true_positive_rate_parity" if key == "tpr" else constraints
    pf = _fairlearn(lr, X, y, a, fl_name)
    assert fair_rates(p, y, a)[key] <= 1e-9
    assert exp_accuracy(p, y) >= exp_accuracy(pf, y) - 1e-4


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(40, 300))
def test_lp_is_optimal_on_small_random_data(seed, n, fair_rates, exp_accuracy):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, n)
    a[:4] = [0, 0, 1, 1]
    y = rng.integers(0, 2, n)
    y[:4] = [0, 1, 0, 1]
    scores = np.round(rng.uniform(size=n) + 0.3 * y, 2)  # ties on purpose

    class Fixed(ClassifierMixin, BaseEstimator):  # a prefit "estimator" with given scores
        def fit(self, X, y):
            return self

        def predict_proba(self, X):
            s = scores[np.asarray(X)[:, 0].astype(int)]
            return np.column_stack((1 - s, s))

    X = np.arange(n)[:, None]
    est = Fixed()
    est.fitted_ = True
    ours = ThresholdOptimizer(est, prefit=True).fit(X, y, sensitive_features=a)
    p = ours.predict_proba(X, sensitive_features=a)[:, 1]
    assert fair_rates(p, y, a)["eo"] <= 1e-9
    assert exp_accuracy(p, y) >= _best_eo_accuracy(scores, y, a) - 1e-4


def test_random_state_makes_predictions_repeatable(make_synthetic):
    X, y, a = make_synthetic(3_000)
    post = ThresholdOptimizer(LogisticRegression(), random_state=7).fit(
        X, y, sensitive_features=a
    )
    first = post.predict(X, sensitive_features=a)
    np.testing.assert_array_equal(first, post.predict(X, sensitive_features=a))
    other = post.set_params(random_state=8).predict(X, sensitive_features=a)
    assert not np.array_equal(first, other)


def test_string_labels_and_sample_weight(make_synthetic, fair_rates):
    X, y, a = make_synthetic(4_000, seed=5)
    labels = np.where(y == 1, "yes", "no")
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    post = ThresholdOptimizer(LogisticRegression()).fit(
        X, labels, sensitive_features=a.astype(str), sample_weight=w
    )
    assert set(post.predict(X, sensitive_features=a.astype(str))) <= {"no", "yes"}
    p = post.predict_proba(X, sensitive_features=a.astype(str))[:, 1]
    # weighted rates are equal, unweighted ones need not be
    tpr = [np.average(p[(a == g) & (y == 1)], weights=w[(a == g) & (y == 1)]) for g in (0, 1)]
    assert tpr[0] == pytest.approx(tpr[1], abs=1e-9)


def test_unseen_group_at_predict(make_synthetic):
    X, y, a = make_synthetic(1_000)
    post = ThresholdOptimizer(LogisticRegression()).fit(X, y, sensitive_features=a)
    with pytest.raises(EvenhandError, match=r"group 5, which was not seen during fit"):
        post.predict(X[:3], sensitive_features=[0, 1, 5])


def test_group_with_a_single_class(make_synthetic):
    X, y, a = make_synthetic(1_000)
    a = a.copy()
    a[:10] = 9
    y = y.copy()
    y[:10] = 1
    with pytest.raises(EvenhandError, match=r"Group 9 .* has only label 1 in y \(10 rows\)"):
        ThresholdOptimizer(LogisticRegression()).fit(X, y, sensitive_features=a)
    # demographic parity does not condition on the label: fine
    ThresholdOptimizer(LogisticRegression(), constraints="demographic_parity").fit(
        X, y, sensitive_features=a
    )


def test_missing_sensitive_features(make_synthetic):
    X, y, a = make_synthetic(500)
    with pytest.raises(EvenhandError, match=r"ThresholdOptimizer.fit requires .*sensitive"):
        ThresholdOptimizer(LogisticRegression()).fit(X, y)
    post = ThresholdOptimizer(LogisticRegression()).fit(X, y, sensitive_features=a)
    with pytest.raises(EvenhandError, match=r"set_predict_request\(sensitive_features=True\)"):
        post.predict(X)


def test_bad_parameters(make_synthetic):
    X, y, a = make_synthetic(500)
    with pytest.raises(EvenhandError, match=r"must be one of .* Got 'eq_odds' instead"):
        ThresholdOptimizer(LogisticRegression(), constraints="eq_odds").fit(
            X, y, sensitive_features=a
        )
    with pytest.raises(EvenhandError, match=r"prefit=True\) needs an already fitted"):
        ThresholdOptimizer(LogisticRegression(), prefit=True).fit(X, y, sensitive_features=a)
    with pytest.raises(EvenhandError, match=r"sensitive_features has 3 rows but X has 500"):
        ThresholdOptimizer(LogisticRegression()).fit(X, y, sensitive_features=[0, 1, 0])
    with pytest.raises(EvenhandError, match=r"exactly two classes; got 3"):
        ThresholdOptimizer(LogisticRegression()).fit(X, y + (a == 1), sensitive_features=a)


def test_several_sensitive_columns_and_frame_inputs(make_synthetic, fair_rates):
    import pandas as pd
    import polars as pl

    X, y, a = make_synthetic(4_000, seed=11)
    sex = np.where(np.arange(len(y)) % 2 == 0, "f", "m")
    frame = pd.DataFrame({"a": a, "sex": sex})
    post = ThresholdOptimizer(LogisticRegression(), random_state=0).fit(
        X, y, sensitive_features=frame
    )
    assert post.groups_.tolist() == ["0|f", "0|m", "1|f", "1|m"]
    p = post.predict_proba(X, sensitive_features=pl.from_pandas(frame))[:, 1]
    combined = np.char.add(a.astype(str), sex)
    assert fair_rates(p, y, combined)["eo"] <= 1e-9
    one = ThresholdOptimizer(LogisticRegression()).fit(X, y, sensitive_features=pl.Series(a))
    assert one.groups_.tolist() == [0, 1]
