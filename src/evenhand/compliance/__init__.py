"""Compliance analyses: NYC Local Law 144 bias audits and EEOC adverse impact.

:func:`adverse_impact` compares each group's selection rate with the highest-rate group:
four-fifths ratio, z-test, Fisher's exact test, shortfall and a plain-language verdict.
:func:`ll144_audit` computes the selection or scoring rates and impact ratios that
6 RCNY §5-301 requires, by sex, race/ethnicity and their intersection.
"""

from __future__ import annotations

from evenhand.compliance._adverse_impact import AdverseImpact, adverse_impact
from evenhand.compliance._ll144 import RACE_CATEGORIES, SEX_CATEGORIES, LL144Audit, ll144_audit

__all__ = [
    "RACE_CATEGORIES", "SEX_CATEGORIES", "AdverseImpact", "LL144Audit", "adverse_impact",
    "ll144_audit",
]
