"""HTML reports: self-contained files that open offline."""

from __future__ import annotations

from evenhand.report._render import audit_chart, audit_repr_html, render_audit

__all__ = ["audit_chart", "audit_repr_html", "render_audit"]
