from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from aif360.algorithms.postprocessing import RejectOptionClassification
from aif360.datasets import BinaryLabelDataset
from sklearn.linear_model import LogisticRegression

from evenhand import EvenhandError
from evenhand.mitigate import RejectOptionClassifier


def _aif360_choice(scores, y, a, n_thresholds, n_margins):
    df = pd.DataFrame({"a": a.astype(float), "y": y.astype(float)})
    truth = BinaryLabelDataset(df=df, label_names=["y"], protected_attribute_names=["a"],
                               favorable_label=1.0, unfavorable_label=0.0)
    pred = truth.copy(deepcopy=True)
    pred.scores = scores.reshape(-1, 1)
    pred.labels = (scores > 0.5).astype(float).reshape(-1, 1)
    roc = RejectOptionClassification(
        unprivileged_groups=[{"a": 0.0}], privileged_groups=[{"a": 1.0}],
        num_class_thresh=n_thresholds, num_ROC_margin=n_margins,
        metric_name="Statistical parity difference", metric_ub=0.05, metric_lb=-0.05,
    ).fit(truth, pred)
    return roc.classification_threshold, roc.ROC_margin


def test_reject_option_matches_aif360(make_synthetic):
    X, y, a = make_synthetic(3_000, seed=2)
    lr = LogisticRegression().fit(X, y)
    ours = RejectOptionClassifier(lr, prefit=True, unprivileged=[0], n_thresholds=20,
                                  n_margins=10).fit(X, y, sensitive_features=a)
    t, m = _aif360_choice(lr.predict_proba(X)[:, 1], y, a, 20, 10)
    assert ours.threshold_ == pytest.approx(t, abs=1e-12)
    assert ours.margin_ == pytest.approx(m, abs=1e-12)
    assert ours.disparity_ <= 0.05


@pytest.mark.parametrize("constraints", ["demographic_parity", "equalized_odds",
                                         "equal_opportunity"])
def test_search_agrees_with_predictions(constraints, make_synthetic, fair_rates):
    X, y, a = make_synthetic(2_000, seed=4, n_groups=3)
    roc = RejectOptionClassifier(LogisticRegression(), constraints=constraints,
                                 max_disparity=0.1).fit(X, y, sensitive_features=a)
    pred = roc.predict(X, sensitive_features=a).astype(float)
    key = {"demographic_parity": "dp", "equalized_odds": "eo", "equal_opportunity": "tpr"}
    assert fair_rates(pred, y, a)[key[constraints]] == pytest.approx(roc.disparity_, abs=1e-9)
    tpr = pred[y == 1].mean()
    tnr = 1 - pred[y == 0].mean()
    assert (tpr + tnr) / 2 == pytest.approx(roc.balanced_accuracy_, abs=1e-9)
    assert roc.disparity_ <= 0.1
    # the default unprivileged groups are those selected less often than average
    base = LogisticRegression().fit(X, y).predict_proba(X)[:, 1] >= 0.5
    rates = np.array([base[a == g].mean() for g in range(3)])
    np.testing.assert_array_equal(roc.unprivileged_, rates < base.mean())


def test_reject_option_errors(make_synthetic):
    X, y, a = make_synthetic(500)
    with pytest.raises(EvenhandError, match=r"unprivileged names group 'x'"):
        RejectOptionClassifier(LogisticRegression(), unprivileged=["x"]).fit(
            X, y, sensitive_features=a
        )
    roc = RejectOptionClassifier(LogisticRegression()).fit(X, y, sensitive_features=a)
    with pytest.raises(EvenhandError, match=r"group 3, which was not seen during fit"):
        roc.predict(X[:1], sensitive_features=[3])
    with pytest.raises(EvenhandError, match=r"RejectOptionClassifier.predict requires"):
        roc.predict(X)
    with pytest.raises(EvenhandError, match=r"'constraints' parameter .* Got 'dp' instead"):
        RejectOptionClassifier(LogisticRegression(), constraints="dp").fit(
            X, y, sensitive_features=a
        )
