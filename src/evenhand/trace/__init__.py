"""Stage-by-stage traces of a pipeline, per group (issue #15).

:func:`trace_preparation` follows every row of the raw data, by its id, through named
data-preparation steps and reports per step and per group what was removed, added or
changed, with intervals and tests (see ``evenhand.trace._counts`` for every definition).
"""

from __future__ import annotations

from evenhand.trace._preparation import trace_preparation
from evenhand.trace._result import PreparationTrace

__all__ = ["PreparationTrace", "trace_preparation"]
