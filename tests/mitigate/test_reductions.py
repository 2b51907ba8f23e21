from __future__ import annotations

import fairlearn.reductions as fr
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from evenhand import EvenhandError
from evenhand.mitigate import (
    BoundedGroupLoss,
    DemographicParity,
    EqualizedOdds,
    ErrorRateParity,
    ExponentiatedGradient,
    FalsePositiveRateParity,
    GridSearch,
    TruePositiveRateParity,
)

# fairlearn (the oracle) trips pandas deprecation warnings; our code does not use pandas
pytestmark = pytest.mark.filterwarnings(
    "ignore::pandas.errors.Pandas4Warning", "ignore::FutureWarning"
)


@pytest.fixture(scope="module")
def split(make_synthetic):
    X, y, a = make_synthetic(5_000, seed=0)
    Xt, yt, at = make_synthetic(5_000, seed=1)
    return X, y, a, Xt, yt, at


def test_exponentiated_gradient_demographic_parity_matches_fairlearn(split, fair_rates,
                                                                     exp_accuracy):
    X, y, a, Xt, yt, at = split
    ours = ExponentiatedGradient(LogisticRegression(), DemographicParity(), eps=0.01,
                                 random_state=0).fit(X, y, sensitive_features=a)
    theirs = fr.ExponentiatedGradient(LogisticRegression(), fr.DemographicParity(),
                                      eps=0.01).fit(X, y, sensitive_features=a)
    p = ours.predict_proba(Xt)[:, 1]
    pf = theirs._pmf_predict(Xt)[:, 1]
    assert exp_accuracy(p, yt) == pytest.approx(exp_accuracy(pf, yt), abs=0.005)
    assert fair_rates(p, yt, at)["dp"] <= 0.02
    # randomised predictions: seeded, and close to their expectation
    realised = ours.predict(Xt)
    np.testing.assert_array_equal(realised, ours.predict(Xt))
    assert abs(np.mean(realised == yt) - exp_accuracy(p, yt)) < 0.02


@pytest.mark.parametrize(
    ("ours", "theirs", "key"),
    [
        (EqualizedOdds, fr.EqualizedOdds, "eo"),
        (TruePositiveRateParity, fr.TruePositiveRateParity, "tpr"),
        (FalsePositiveRateParity, fr.FalsePositiveRateParity, "fpr"),
        (ErrorRateParity, fr.ErrorRateParity, None),
    ],
)
def test_other_moments_match_fairlearn_on_training_data(ours, theirs, key, make_synthetic,
                                                        fair_rates, exp_accuracy):
    X, y, a = make_synthetic(1_500, seed=2)
    eg = ExponentiatedGradient(LogisticRegression(), ours(), eps=0.02).fit(
        X, y, sensitive_features=a
    )
    fl = fr.ExponentiatedGradient(LogisticRegression(), theirs(difference_bound=0.02),
                                  eps=0.02).fit(X, y, sensitive_features=a)
    p, pf = eg.predict_proba(X)[:, 1], fl._pmf_predict(X)[:, 1]
    assert exp_accuracy(p, y) == pytest.approx(exp_accuracy(pf, y), abs=0.005)
    if key is not None:
        assert fair_rates(p, y, a)[key] <= fair_rates(pf, y, a)[key] + 0.005


def test_exponentiated_gradient_bounded_group_loss_regression(make_synthetic):
    X, _, a = make_synthetic(3_000, seed=4)
    y = X[:, 0] + np.where(a == 1, 1.5, 0.3) * np.random.default_rng(0).normal(size=len(a))
    bound = 0.8
    ours = ExponentiatedGradient(LinearRegression(),
                                 BoundedGroupLoss("squared_error", upper_bound=bound),
                                 eps=0.01).fit(X, y, sensitive_features=a)
    pred = ours.predict(X)
    group_mse = [np.mean((pred[a == g] - y[a == g]) ** 2) for g in (0, 1)]
    plain = LinearRegression().fit(X, y).predict(X)
    plain_mse = [np.mean((plain[a == g] - y[a == g]) ** 2) for g in (0, 1)]
    # the worse group's loss goes down relative to the unconstrained fit
    assert max(group_mse) < max(plain_mse)
    assert ours.__sklearn_tags__().estimator_type == "regressor"
    assert not hasattr(ours, "predict_proba")


def test_grid_search_demographic_parity_matches_fairlearn(split):
    X, y, a, Xt, _yt, _at = split
    ours = GridSearch(LogisticRegression(), DemographicParity(), grid_size=11).fit(
        X, y, sensitive_features=a
    )
    theirs = fr.GridSearch(LogisticRegression(), fr.DemographicParity(), grid_size=11).fit(
        X, y, sensitive_features=a
    )
    # the same grid: our signed multiplier on group 1 is fairlearn's "+" minus "-" pair
    theirs_grid = theirs.lambda_vecs_.loc["+"] - theirs.lambda_vecs_.loc["-"]
    np.testing.assert_allclose(ours.lambda_vecs_[:, 0], theirs_grid.loc[("all", 1)], atol=1e-12)
    np.testing.assert_allclose(theirs_grid.loc[("all", 0)], 0.0)
    # hence the same models and the same choice
    assert ours.best_idx_ == theirs.best_idx_
    np.testing.assert_array_equal(ours.predict(Xt), theirs.predict(Xt))
    assert ours.disparities_.min() < ours.disparities_.max()


def test_grid_search_many_groups_uses_seeded_grid(make_synthetic):
    X, y, a = make_synthetic(2_000, seed=6, n_groups=5)
    gs = GridSearch(LogisticRegression(), EqualizedOdds(), grid_size=5, random_state=0)
    gs.fit(X, y, sensitive_features=a)
    again = GridSearch(LogisticRegression(), EqualizedOdds(), grid_size=5, random_state=0)
    np.testing.assert_array_equal(
        gs.lambda_vecs_, again.fit(X, y, sensitive_features=a).lambda_vecs_
    )
    assert gs.lambda_vecs_.shape == (5, 8)
    assert np.all(np.abs(gs.lambda_vecs_).sum(axis=1) <= 2.0 + 1e-12)


def test_reduction_errors(make_synthetic):
    X, y, a = make_synthetic(500)
    with pytest.raises(EvenhandError, match=r"ExponentiatedGradient.fit requires"):
        ExponentiatedGradient(LogisticRegression(), DemographicParity()).fit(X, y)
    with pytest.raises(EvenhandError, match=r"must be a constraint object .* got 'dp'"):
        ExponentiatedGradient(LogisticRegression(), "dp").fit(X, y, sensitive_features=a)
    with pytest.raises(EvenhandError, match=r"'eps' parameter .* got 0"):
        ExponentiatedGradient(LogisticRegression(), DemographicParity(), eps=0).fit(
            X, y, sensitive_features=a
        )
    a2 = a.copy()
    a2[:5] = 7
    y2 = y.copy()
    y2[:5] = 0
    with pytest.raises(EvenhandError, match=r"Group 7 .* only label 0 .* EqualizedOdds"):
        ExponentiatedGradient(LogisticRegression(), EqualizedOdds()).fit(
            X, y2, sensitive_features=a2
        )
    with pytest.raises(EvenhandError, match=r"'grid' parameter of GridSearch needs 1 column"):
        GridSearch(LogisticRegression(), DemographicParity(), grid=[[0, 1]]).fit(
            X, y, sensitive_features=a
        )
    with pytest.raises(EvenhandError, match=r"'loss' parameter of BoundedGroupLoss"):
        ExponentiatedGradient(LinearRegression(), BoundedGroupLoss("huber")).fit(
            X, y, sensitive_features=a
        )
