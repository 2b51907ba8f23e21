"""Accountability for each automated decision.

:class:`DecisionExplainer` calibrates once on held-out data, then turns each decision into
a :class:`DecisionRecord`: the inputs the model saw and its identity, the score and the
decision, a prediction set or interval whose coverage holds *within the person's group*
(Mondrian split conformal prediction), the feature contributions, a verified recourse,
and how often the model errs for people in the same group. Records serialise to JSON
(schema ``evenhand.decision/1``, :data:`DECISION_SCHEMA`) and render as a one-page HTML
card.
"""

from __future__ import annotations

from evenhand.explain._card import render_cards
from evenhand.explain._conformal import GroupConformal
from evenhand.explain._explainer import DecisionExplainer
from evenhand.explain._record import DECISION_SCHEMA, DecisionRecord

__all__ = [
    "DECISION_SCHEMA",
    "DecisionExplainer",
    "DecisionRecord",
    "GroupConformal",
    "render_cards",
]
