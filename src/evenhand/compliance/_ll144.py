"""NYC Local Law 144 bias audit of an automated employment decision tool (6 RCNY §5-301)."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from evenhand._core._errors import EvenhandError
from evenhand._core._frame import output_like
from evenhand._core._json import dump_json, records
from evenhand._core._uncertainty import katz, normal_quantile, wilson
from evenhand.compliance._common import binary_column, read_columns

__all__ = ["RACE_CATEGORIES", "SEX_CATEGORIES", "LL144Audit", "ll144_audit"]

SEX_CATEGORIES = ("Male", "Female")
RACE_CATEGORIES = (
    "Hispanic or Latino", "White", "Black or African American",
    "Native Hawaiian or Pacific Islander", "Asian", "Native American or Alaska Native",
    "Two or More Races",
)
SMALL_SHARE = 0.02


@dataclass(frozen=True)
class LL144Audit:
    """Result of :func:`ll144_audit`: one table per category dimension.

    ``sex``, ``race`` and ``intersectional`` are in the caller's dataframe library.
    """

    sex: Any
    race: Any
    intersectional: Any
    tool: str
    n_assessed: int
    n_unknown: dict[str, int]
    audit_date: str
    data_source: str
    data_kind: str
    test_data_explanation: str | None
    median_score: float | None
    level: float
    _tables: dict[str, pl.DataFrame] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Return the audit as JSON-ready plain values."""
        return {
            "analysis": "NYC Local Law 144 bias audit, 6 RCNY §5-301",
            "tool": self.tool, "audit_date": self.audit_date, "data_source": self.data_source,
            "data_kind": self.data_kind, "test_data_explanation": self.test_data_explanation,
            "n_assessed": self.n_assessed, "n_unknown": self.n_unknown,
            "median_score": self.median_score, "level": self.level,
            "tables": {k: records(v) for k, v in self._tables.items()},
        }

    def to_json(self, path: str | None = None) -> str:
        """Serialise :meth:`to_dict` (non-finite numbers become ``null``); write to ``path``."""
        return dump_json(self.to_dict(), path)

    def to_html(self, path: str | None = None) -> str:
        """Render a self-contained, printable one-page summary; write it to ``path``."""
        import jinja2

        source = resources.files("evenhand.compliance").joinpath("templates/ll144.html.j2")
        env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True,
                                 undefined=jinja2.StrictUndefined)
        payload = self.to_dict()
        names = {"sex": "Sex", "race": "Race/ethnicity", "intersectional": "Intersectional"}
        tables = [(names[k], v) for k, v in payload["tables"].items()]
        html = env.from_string(source.read_text()).render(r=payload, tables=tables, fmt=_fmt)
        if path is not None:
            Path(path).write_text(html)
        return html


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _map_labels(values: np.ndarray, column: str, allowed: tuple[str, ...],
                mapping: Mapping[Any, str | None] | None, argument: str) -> np.ndarray:
    """Map raw labels onto the law's categories; missing values (and ``None``) are unknown."""
    mapping = dict(mapping or {})
    out = np.empty(values.size, dtype=object)
    bad: set[str] = set()
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out[i] = None
            continue
        target = mapping.get(v, v) if v in mapping or v in allowed else ...
        if target is ... or (target is not None and target not in allowed):
            bad.add(str(v))
            continue
        out[i] = target
    if bad:
        raise EvenhandError(
            f"Labels {sorted(bad)[:10]} of column {column!r} are not categories of the law "
            f"({list(allowed)}). Pass {argument}={{your label: category}}; map a label to "
            "None to count it as unknown (not included)."
        )
    return out


def _outcome(cols: dict[str, np.ndarray], selected: str | None,
             score: str | None) -> tuple[np.ndarray, float | None]:
    if (selected is None) == (score is None):
        raise EvenhandError("Pass exactly one of selected= (selecting tool) or score= "
                            "(scoring tool).")
    if selected is not None:
        return binary_column(cols["selected"], selected), None
    values = np.asarray(cols["score"], dtype=float)
    if np.isnan(values).any():
        raise EvenhandError(f"The score column {score!r} has missing values; fill or drop them.")
    median = float(np.median(values))
    ties = int(np.sum(values == median))
    if ties:
        warnings.warn(f"{ties} individuals score exactly the median ({median:g}); as scores "
                      "strictly above the median count, they are counted as not scoring above.",
                      UserWarning, stacklevel=3)
    return values > median, median


def _category_table(labels: np.ndarray, outcome: np.ndarray, order: list[str],
                    n_total: int, exclude_small: bool, level: float) -> pl.DataFrame:
    known = np.array([v is not None for v in labels], dtype=bool)
    present = [c for c in order if np.any(labels[known] == c)]
    n = np.array([np.sum(labels[known] == c) for c in present], dtype=np.int64)
    x = np.array([np.sum(outcome[known][labels[known] == c]) for c in present], dtype=np.int64)
    share = n / n_total
    excluded = (share < SMALL_SHARE) if exclude_small else np.zeros(n.size, dtype=bool)
    rate = x / n
    z = normal_quantile(level)
    low, high = wilson(x, n, z)
    usable = ~excluded
    ref = int(np.flatnonzero(usable)[np.argmax(rate[usable])]) if usable.any() else -1
    ratio = np.full(n.size, np.nan)
    r_low, r_high = np.full(n.size, np.nan), np.full(n.size, np.nan)
    if ref >= 0 and x[ref] > 0:
        ratio = np.where(usable, (x * n[ref]) / (n * x[ref]), np.nan)
        r_low, r_high = katz(x, n, np.full(n.size, x[ref]), np.full(n.size, n[ref]), z)
        r_low, r_high = np.where(usable, r_low, np.nan), np.where(usable, r_high, np.nan)
    reason = [f"under 2% of the data ({s:.2%})" if e else None for e, s in
              zip(excluded, share, strict=True)]
    return pl.DataFrame({
        "category": present, "n": n, "share": share, "count": x, "rate": rate,
        "rate_low": low, "rate_high": high, "impact_ratio": ratio, "ratio_low": r_low,
        "ratio_high": r_high, "reference": np.arange(n.size) == ref, "excluded": excluded,
        "excluded_reason": pl.Series(reason, dtype=pl.String),
    })


def ll144_audit(
    data: Any, *, sex: str, race: str, selected: str | None = None, score: str | None = None,
    race_map: Mapping[Any, str | None] | None = None,
    sex_map: Mapping[Any, str | None] | None = None, exclude_small: bool = False,
    level: float = 0.95, audit_date: str | None = None, data_source: str = "",
    data_kind: str = "historical", test_data_explanation: str | None = None,
) -> LL144Audit:
    """Bias audit of an automated employment decision tool (6 RCNY §5-301).

    Parameters
    ----------
    data : DataFrame
        Any supported dataframe, one row per individual assessed.
    sex, race : str
        Columns with each individual's sex and race/ethnicity. Labels must be the law's
        categories (``SEX_CATEGORIES``; the EEO-1 component 1 ``RACE_CATEGORIES``) or be
        mapped onto them with ``sex_map`` / ``race_map``; missing values and labels mapped
        to ``None`` are unknown: counted as not included and reported in ``n_unknown``.
    selected : str, optional
        Selecting tool: binary column, 1 if selected (moved forward) and 0 otherwise.
    score : str, optional
        Scoring tool: numeric score column. Exactly one of ``selected`` and ``score``.
    exclude_small : bool
        Leave categories with fewer than 2% of the individuals assessed out of the
        impact-ratio calculation (§5-301(d)); they are still shown with count and rate,
        with ``excluded = True`` and the reason.
    level : float
        Confidence level of the Wilson (rate) and Katz (ratio) intervals.
    audit_date, data_source, data_kind, test_data_explanation : str
        Summary facts of the audit (``data_kind``: ``"historical"`` or ``"test"``; test data
        need an explanation of why historical data were not used).

    Returns
    -------
    LL144Audit
        Tables ``sex``, ``race`` and ``intersectional`` (sex × race/ethnicity), each with
        ``n``, ``share = n / n_assessed``, ``count`` and ``rate = count / n`` — for a
        selecting tool the selection rate, for a scoring tool the scoring rate: the share
        scoring strictly above the median score of all individuals assessed (ties at the
        median count as not above; a warning gives their number) — and
        ``impact_ratio = rate / rate`` of the category with the highest rate among those not
        excluded (``nan`` for excluded categories and when that rate is 0).

    Examples
    --------
    >>> import polars as pl
    >>> from evenhand.compliance import ll144_audit
    >>> df = pl.DataFrame({"sex": ["M", "F"] * 50, "race": ["White"] * 60 + ["Asian"] * 40,
    ...                    "hired": [1, 0, 1, 1] * 25})
    >>> res = ll144_audit(df, sex="sex", race="race", selected="hired",
    ...                   sex_map={"M": "Male", "F": "Female"})
    >>> res.sex.select("category", "n", "rate", "impact_ratio").rows()
    [('Male', 50, 1.0, 1.0), ('Female', 50, 0.5, 0.5)]
    """
    if data_kind not in ("historical", "test"):
        raise EvenhandError(f"data_kind must be 'historical' or 'test'; got {data_kind!r}.")
    if data_kind == "test" and not test_data_explanation:
        raise EvenhandError("With data_kind='test', pass test_data_explanation= saying why "
                            "historical data were not used and how the test data were built.")
    args = {"sex": sex, "race": race}
    args.update({"selected": selected} if selected is not None else {})
    args.update({"score": score} if score is not None else {})
    cols = read_columns(data, args)
    outcome, median = _outcome(cols, selected, score)
    sexes = _map_labels(cols["sex"], sex, SEX_CATEGORIES, sex_map, "sex_map")
    races = _map_labels(cols["race"], race, RACE_CATEGORIES, race_map, "race_map")
    both = np.array([None if s is None or r is None else f"{s} {r}"
                     for s, r in zip(sexes, races, strict=True)], dtype=object)
    n_total = int(outcome.size)
    orders = {"sex": list(SEX_CATEGORIES), "race": list(RACE_CATEGORIES),
              "intersectional": [f"{s} {r}" for s in SEX_CATEGORIES for r in RACE_CATEGORIES]}
    labels = {"sex": sexes, "race": races, "intersectional": both}
    tables = {k: _category_table(labels[k], outcome, orders[k], n_total, exclude_small, level)
              for k in orders}
    for key, table in tables.items():
        if table.height < 2:
            raise EvenhandError(f"Every individual with a known {key} category is in one "
                                f"category ({table['category'].to_list()}); an impact ratio "
                                "needs at least two.")
    return LL144Audit(
        sex=output_like(tables["sex"], data), race=output_like(tables["race"], data),
        intersectional=output_like(tables["intersectional"], data),
        tool="selection" if selected is not None else "scoring", n_assessed=n_total,
        n_unknown={k: int(sum(v is None for v in labels[k])) for k in orders},
        audit_date=audit_date or dt.date.today().isoformat(), data_source=data_source,
        data_kind=data_kind, test_data_explanation=test_data_explanation,
        median_score=median, level=level, _tables=tables,
    )
