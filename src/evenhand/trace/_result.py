"""The result of :func:`~evenhand.trace.trace_preparation` and its plain-language summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from evenhand._core._json import dump_json, jsonable, records

__all__ = ["SCHEMA", "PreparationTrace"]

SCHEMA = "evenhand.trace.preparation/1"


class PreparationTrace:
    """What each preparation step did to each group.

    Tables come back in the raw data's library (pandas in, pandas out; otherwise polars).

    Attributes
    ----------
    steps : DataFrame
        One row per step × group (every grouping: the intersection first, then each sensitive
        column alone, marginal columns ``null``); columns are defined in
        ``evenhand.trace._counts``, plus ``<metric>_before``, ``<metric>_after`` and
        ``<metric>_change`` (after − before) for each requested model metric.
    tests : DataFrame
        One row per step × grouping: Pearson's chi-square statistic that the drop share is
        equal across the groups, its degrees of freedom and p-value.
    changes : DataFrame
        Values changed and imputed per step × column × group, comparing rows by id.
    sentences : list of str
        One plain-language sentence per step.
    """

    def __init__(self, *, steps: pl.DataFrame, tests: pl.DataFrame, changes: pl.DataFrame,
                 config: dict[str, Any], library: str) -> None:
        self._steps, self._tests, self._changes = steps, tests, changes
        self.config = config
        self._library = library

    def _out(self, frame: pl.DataFrame) -> Any:
        return frame.to_pandas() if self._library == "pandas" else frame

    @property
    def steps(self) -> Any:
        """One row per step × group (see the class docstring)."""
        return self._out(self._steps)

    @property
    def tests(self) -> Any:
        """Chi-square tests of equal drop shares, one row per step × grouping."""
        return self._out(self._tests)

    @property
    def changes(self) -> Any:
        """Values changed and imputed per step × column × group."""
        return self._out(self._changes)

    @property
    def sentences(self) -> list[str]:
        """One plain-language sentence per step."""
        return [self._sentence(name) for name in self.config["step_names"]]

    def _sentence(self, name: str) -> str:
        rows = self._steps.filter(pl.col("step") == name)
        total = rows.filter(pl.col("by") == rows.get_column("by")[0])
        dropped, added = int(total["rows_dropped"].sum()), int(total["rows_added"].sum())
        if dropped == 0:
            text = f"Step {name!r} removed no rows"
        else:
            clauses = [self._clause(rows, name, (c,)) for c in self.config["sensitive"]]
            text = f"Step {name!r} removed " + "; ".join(clauses)
        if added:
            text += f"; it added {added} row(s) repeating existing ids"
        return text + "."

    def _clause(self, rows: pl.DataFrame, name: str, attrs: tuple[str, ...]) -> str:
        by = " & ".join(attrs)
        level = rows.filter(pl.col("by") == by)
        parts = []
        for row in level.iter_rows(named=True):
            group = "/".join(str(row[a]) for a in attrs)
            parts.append(f"{row['drop_share']:.1%} of {group} rows "
                         f"[{row['drop_share_low']:.1%}, {row['drop_share_high']:.1%}]")
        test = self._tests.filter((pl.col("step") == name) & (pl.col("by") == by)).row(
            0, named=True)
        p = test["p_value"]
        if p is None or p != p:
            verdict = f"by {by}, no test (one group)"
        elif p < 0.001:
            verdict = f"by {by}, drop shares differ (p < 0.001)"
        else:
            word = "differ" if p < 1 - self.config["ci"] else "do not differ detectably"
            verdict = f"by {by}, drop shares {word} (p = {p:.3f})"
        return ", ".join(parts) + f" ({verdict})"

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready values (schema ``evenhand.trace.preparation/1``)."""
        return {"schema": SCHEMA, "config": jsonable(self.config),
                "steps": records(self._steps), "tests": records(self._tests),
                "changes": records(self._changes), "sentences": self.sentences}

    def to_json(self, path: str | Path | None = None, *, indent: int | None = 2) -> str:
        """Serialise :meth:`to_dict` (non-finite numbers become ``null``); write to ``path``."""
        return dump_json(self.to_dict(), path, indent=indent)

    def __repr__(self) -> str:
        return "PreparationTrace(\n  " + "\n  ".join(self.sentences) + "\n)"
