"""HTML reports: self-contained files that open offline."""

from __future__ import annotations

from evenhand.report._render import render_audit

__all__ = ["render_audit"]
