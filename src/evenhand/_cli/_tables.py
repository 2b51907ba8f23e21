"""Readable terminal tables (rich) shared by the sub-commands; fit in 80 columns."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table

__all__ = ["console", "fmt", "fmt_p", "print_frame", "with_ci"]

console = Console(stderr=False, width=None)


def fmt(value: Any, digits: int = 3) -> str:
    """Round numbers sensibly: 3 significant decimals, scientific for tiny p-values."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.{digits}f}"
    return str(value)


def fmt_p(value: float | None) -> str:
    """P-values: three decimals, or ``<0.001``."""
    if value is None or math.isnan(value):
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def with_ci(value: float | None, low: float | None, high: float | None) -> str:
    """Value over its interval: ``0.448`` then ``[0.43, 0.47]`` on a second line."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return fmt(value)
    return f"{fmt(value)}\n[dim][{fmt(low, 2)}, {fmt(high, 2)}][/dim]"


def print_frame(
    frame: pl.DataFrame,
    title: str,
    *,
    highlight: str | None = None,
    columns: Sequence[str] | None = None,
) -> None:
    """Print ``frame`` as a rich table; rows where ``highlight`` is false are shown in red."""
    columns = list(columns or frame.columns)
    table = Table(title=title, title_justify="left", title_style="bold", pad_edge=False)
    for col in columns:
        numeric = frame.schema[col].is_numeric() if col in frame.schema else False
        table.add_column(col, justify="right" if numeric else "left", overflow="fold")
    for row in frame.iter_rows(named=True):
        style = "bold red" if highlight and row.get(highlight) is False else None
        table.add_row(*(row[c] if isinstance(row[c], str) else fmt(row[c]) for c in columns),
                      style=style)
    console.print(table)
