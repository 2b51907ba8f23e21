"""HTML reports: self-contained files that open offline, and charts for notebooks.

- :func:`render_audit` — the full audit report (summary with plain-language sentences,
  charts with intervals, threshold explorer, trade-offs, group sizes), optionally with extra
  sections from other evenhand results.
- :func:`render_sections` — a standalone report made of sections (chart, HTML, table).
- :func:`audit_chart` / :func:`audit_repr_html` — behind ``Audit.chart`` and the notebook view.
"""

from __future__ import annotations

from evenhand.report._render import (
    audit_chart,
    audit_repr_html,
    javascript_bundle,
    render_audit,
    render_sections,
    table_html,
)
from evenhand.report._text import Wording

__all__ = [
    "Wording",
    "audit_chart",
    "audit_repr_html",
    "javascript_bundle",
    "render_audit",
    "render_sections",
    "table_html",
]
