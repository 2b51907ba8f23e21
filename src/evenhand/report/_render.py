"""Minimal audit report (the full report with charts replaces this)."""

from __future__ import annotations

import html
from typing import Any

import polars as pl

__all__ = ["audit_chart", "audit_repr_html", "render_audit"]


def _table(frame: pl.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
        for row in frame.iter_rows()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def render_audit(result: Any) -> str:
    """Return a self-contained HTML page with the audit's summary and groups."""
    def polars(frame: Any) -> pl.DataFrame:
        return frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame)

    parts = ["<h1>evenhand audit</h1>", "<h2>Groups</h2>", _table(polars(result.by_group))]
    if result.config["task"] == "binary":
        parts += ["<h2>Summary</h2>", _table(polars(result.summary()))]
    return ("<!doctype html><html><head><meta charset='utf-8'><title>evenhand audit</title>"
            "</head><body>" + "".join(parts) + "</body></html>")


def audit_chart(result: Any, name: str) -> Any:
    """Return the altair chart ``name`` of an audit (implemented by the full report)."""
    raise NotImplementedError("charts arrive with the full report")


def audit_repr_html(result: Any) -> str:
    """Notebook view of an audit."""
    return render_audit(result)
