"""Compliance analyses: EEOC adverse impact (29 CFR 1607.4(D)).

:func:`adverse_impact` compares each group's selection rate with the highest-rate group:
four-fifths ratio, z-test, Fisher's exact test, shortfall and a plain-language verdict.
"""

from __future__ import annotations

from evenhand.compliance._adverse_impact import AdverseImpact, adverse_impact

__all__ = ["AdverseImpact", "adverse_impact"]
