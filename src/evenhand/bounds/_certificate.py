"""The result of :func:`evenhand.bounds.certify`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from evenhand._core._json import records

__all__ = ["Certificate"]


def _range_text(spec: Any) -> str:
    if isinstance(spec, dict):
        parts = [_range_text(spec["delta"])]
        if "min" in spec:
            parts.append(f"at least {spec['min']:g}")
        if "max" in spec:
            parts.append(f"at most {spec['max']:g}")
        return " ".join([parts[0], f"({', '.join(parts[1:])})"]) if parts[1:] else parts[0]
    if isinstance(spec, int | float):
        return f"±{spec:g}"
    if isinstance(spec, str):
        return spec if spec == "any" else f"±{spec}"
    return f"in {sorted(spec, key=str)!r}"


@dataclass(frozen=True)
class Certificate:
    """Score bounds, flippable decisions and metric intervals under trusted input ranges.

    Attributes
    ----------
    rows : DataFrame
        One row per input row: ``row``, the sensitive column(s), ``y_true`` if given,
        ``score``, ``decision``, ``score_low``, ``score_high`` (sound or exact),
        ``score_low_inner``, ``score_high_inner`` (attained by a found point), ``gap``
        (``(score_high − score_high_inner) + (score_low_inner − score_low)``, 0 when exact),
        ``decision_stable`` (``True`` proven stable, ``False`` proven flippable, null
        unresolved) and ``exact``.
    metric_bounds : DataFrame
        ``group``, ``metric``, ``value`` (at the recorded inputs), ``low``, ``high`` (contain
        every attainable value; exact when ``exact``), ``low_inner``, ``high_inner``
        (attained by proven flips).
    disparity_bounds : DataFrame
        ``metric``, ``kind`` (``difference``, ``ratio``, ``between_groups_difference``),
        ``group``, ``reference``, ``value``, ``low``, ``high``, ``exact``.
    flippable : DataFrame
        The rows whose decision provably flips, with ``score``, ``new_score``, the
        ``change`` as text and per ranged feature its recorded and ``new_`` value; every
        change was verified by scoring the changed row with the model.
    method : str
        How the score bounds were found.
    guaranteed : bool
        ``False`` when bounds come from search alone (a flip may have been missed).
    """

    _rows: pl.DataFrame = field(repr=False)
    _metric_bounds: pl.DataFrame = field(repr=False)
    _disparity_bounds: pl.DataFrame = field(repr=False)
    _flippable: pl.DataFrame = field(repr=False)
    method: str
    guaranteed: bool
    threshold: float
    ranges: dict[str, Any]
    reference: str
    _library: str = field(repr=False, default="polars")

    def _out(self, frame: pl.DataFrame) -> Any:
        return frame.to_pandas() if self._library == "pandas" else frame

    @property
    def rows(self) -> Any:
        """Per-row bounds, in the input's library."""
        return self._out(self._rows)

    @property
    def metric_bounds(self) -> Any:
        """Per-group metric intervals, in the input's library."""
        return self._out(self._metric_bounds)

    @property
    def disparity_bounds(self) -> Any:
        """Between-group disparity intervals, in the input's library."""
        return self._out(self._disparity_bounds)

    @property
    def flippable(self) -> Any:
        """Rows whose decision can flip, with a verified change, in the input's library."""
        return self._out(self._flippable)

    @property
    def n_flippable(self) -> int:
        """Number of decisions proven to flip within the ranges."""
        return int(self._flippable.height)

    @property
    def n_unresolved(self) -> int:
        """Number of decisions neither proven stable nor proven to flip."""
        return int(self._rows.get_column("decision_stable").null_count())

    def disparity(self, metric: str, group: str, kind: str = "difference") -> tuple[float, float]:
        """Return ``(low, high)`` of ``metric(group)`` against the reference group."""
        hit = self._disparity_bounds.filter(
            (pl.col("metric") == metric) & (pl.col("group") == group) & (pl.col("kind") == kind)
        )
        if hit.height != 1:
            from evenhand._core._errors import EvenhandError

            raise EvenhandError(
                f"No {kind} of {metric!r} for group {group!r} against {self.reference!r}; "
                f"got metric={metric!r}, group={group!r}. See disparity_bounds for the choices."
            )
        return float(hit.item(0, "low")), float(hit.item(0, "high"))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable summary and all four tables as lists of records."""
        return {
            "method": self.method,
            "guaranteed": self.guaranteed,
            "threshold": self.threshold,
            "ranges": {k: (sorted(v, key=str) if isinstance(v, set | frozenset) else v)
                       for k, v in self.ranges.items()},
            "reference": self.reference,
            "n_rows": self._rows.height,
            "n_flippable": self.n_flippable,
            "n_unresolved": self.n_unresolved,
            "rows": records(self._rows),
            "metric_bounds": records(self._metric_bounds),
            "disparity_bounds": records(self._disparity_bounds),
            "flippable": records(self._flippable),
        }

    def chart(self, metrics: list[str] | None = None) -> Any:
        """Return an altair chart of each group's metric interval (rule) and value (point).

        Needs the ``report`` extra (``pip install evenhand[report]``).
        """
        try:
            import altair as alt
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "Certificate.chart needs altair: pip install 'evenhand[report]'"
            ) from exc
        table = self._metric_bounds
        if metrics is not None:
            table = table.filter(pl.col("metric").is_in(metrics))
        values = records(table)
        base = alt.Chart(alt.Data(values=values)).encode(y=alt.Y("group:N", title=None))
        rule = base.mark_rule(strokeWidth=3).encode(
            x=alt.X("low:Q", title="metric value"), x2="high:Q"
        )
        point = base.mark_point(filled=True, color="black").encode(
            x="value:Q", tooltip=["group:N", "metric:N", "value:Q", "low:Q", "high:Q"]
        )
        return (rule + point).facet(row=alt.Row("metric:N", title=None)).properties(
            title=f"Metric intervals under trusted input ranges ({self.method})"
        )

    def to_frame(self) -> Any:
        """Return :attr:`metric_bounds` (the table shown beside :meth:`chart` in reports)."""
        return self.metric_bounds

    def summary(self) -> list[str]:
        """Plain-language sentences: how many decisions can flip and what that does."""
        ranges = ", ".join(f"{k} {_range_text(v)}" for k, v in self.ranges.items())
        n = self._rows.height
        lines = [
            f"With {ranges}, {self.n_flippable:,} of {n:,} decisions can flip "
            f"({self.n_unresolved:,} unresolved); bounds by {self.method}."
        ]
        if not self.guaranteed:
            lines.append("These bounds come from a search: a flip may have been missed.")
        diffs = self._disparity_bounds.filter(
            (pl.col("kind") == "difference") & pl.col("metric").is_in(["fpr", "selection_rate"])
        )
        for r in diffs.iter_rows(named=True):
            if math.isfinite(r["low"]) and math.isfinite(r["high"]):
                lines.append(
                    f"{r['metric']} difference {r['group']} − {r['reference']}: "
                    f"{r['value']:.3f} as recorded, anywhere in [{r['low']:.3f}, {r['high']:.3f}]."
                )
        return lines

    def report_section(
        self, title: str = "Decisions that could flip under trusted input ranges"
    ) -> dict[str, Any]:
        """Return a section for :func:`evenhand.report.render_audit` / ``render_sections``.

        The chart of metric intervals, the disparity table and :meth:`summary` as text.
        """
        table = self._disparity_bounds.filter(pl.col("kind") != "ratio")
        return {"title": title, "content": self.chart(), "table": table, "text": self.summary()}

    def __repr__(self) -> str:
        return (
            f"Certificate(method={self.method!r}, rows={self._rows.height}, "
            f"flippable={self.n_flippable}, unresolved={self.n_unresolved}, "
            f"guaranteed={self.guaranteed})"
        )
