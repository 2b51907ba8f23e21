"""``evenhand.audit``: per-group metrics with intervals, for every task.

Binary, multiclass, ranking and regression tasks, and user metrics (the callable path).

The folder is private because the public entry point is the function :func:`evenhand.audit`;
a public subpackage of the same name would shadow it.
"""

from evenhand._audit._audit import Audit, audit

__all__ = ["Audit", "audit"]
