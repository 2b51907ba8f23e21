"""Mitigation as scikit-learn estimators, and the accuracy–fairness trade-off.

* Pre-processing: :class:`Reweighing`, :class:`DisparateImpactRemover`,
  :class:`CorrelationRemover`.
* In-processing (reductions): :class:`ExponentiatedGradient`, :class:`GridSearch` with the
  constraints :class:`DemographicParity`, :class:`EqualizedOdds`,
  :class:`TruePositiveRateParity`, :class:`FalsePositiveRateParity`,
  :class:`ErrorRateParity` and :class:`BoundedGroupLoss`.
* Post-processing: :class:`ThresholdOptimizer`, :class:`RejectOptionClassifier`.
* :func:`tradeoff` and its :func:`chart`.

``sensitive_features`` is a keyword argument of ``fit`` (and of ``predict`` /
``transform`` where the groups are needed there). It is routed through a
``Pipeline`` or ``GridSearchCV`` by scikit-learn's metadata routing::

    sklearn.set_config(enable_metadata_routing=True)
    ThresholdOptimizer(...).set_fit_request(sensitive_features=True)
"""

from __future__ import annotations

from evenhand.mitigate._expgrad import ExponentiatedGradient
from evenhand.mitigate._grid_search import GridSearch
from evenhand.mitigate._moments import (
    BoundedGroupLoss,
    DemographicParity,
    EqualizedOdds,
    ErrorRateParity,
    FalsePositiveRateParity,
    Moment,
    TruePositiveRateParity,
)
from evenhand.mitigate._pre import CorrelationRemover, DisparateImpactRemover, Reweighing
from evenhand.mitigate._reject_option import RejectOptionClassifier
from evenhand.mitigate._threshold import ThresholdOptimizer
from evenhand.mitigate._tradeoff import chart, tradeoff

__all__ = [
    "BoundedGroupLoss",
    "CorrelationRemover",
    "DemographicParity",
    "DisparateImpactRemover",
    "EqualizedOdds",
    "ErrorRateParity",
    "ExponentiatedGradient",
    "FalsePositiveRateParity",
    "GridSearch",
    "Moment",
    "RejectOptionClassifier",
    "Reweighing",
    "ThresholdOptimizer",
    "TruePositiveRateParity",
    "chart",
    "tradeoff",
]
