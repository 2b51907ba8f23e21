"""EEOC adverse-impact analysis under the Uniform Guidelines, 29 CFR 1607.4(D)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from evenhand._core._errors import EvenhandError
from evenhand._core._frame import output_like
from evenhand._core._json import dump_json, jsonable, records
from evenhand._core._uncertainty import katz, normal_quantile, wilson
from evenhand.compliance._common import binary_column, read_columns

__all__ = ["AdverseImpact", "adverse_impact"]

FOUR_FIFTHS = 0.8
_TOL = 1e-9  # guards ceil() against floating error such as 0.8 * 0.75 * 40 = 24.000000004


@dataclass(frozen=True)
class AdverseImpact:
    """Result of :func:`adverse_impact`.

    Attributes
    ----------
    table : DataFrame
        One row per group (caller's dataframe library), see :func:`adverse_impact`.
    reference : object
        The group with the highest selection rate.
    alpha : float
        Significance level of the verdicts.
    level : float
        Confidence level of the intervals.
    """

    table: Any
    reference: Any
    alpha: float
    level: float
    _polars: pl.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready plain values."""
        return {
            "analysis": "adverse impact, 29 CFR 1607.4(D)",
            "reference": jsonable(self.reference),
            "alpha": self.alpha,
            "level": self.level,
            "groups": records(self._polars),
        }

    def to_json(self, path: str | None = None) -> str:
        """Serialise :meth:`to_dict` (non-finite numbers become ``null``); write to ``path``."""
        return dump_json(self.to_dict(), path)


def _shortfall(target_rate: np.ndarray, n: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Extra selections needed so ``x / n`` reaches ``target_rate``: ``ceil(n t - x)``, >= 0."""
    need = np.ceil(target_rate * n - x - _TOL)
    return np.maximum(need, 0).astype(np.int64)


def _z_test(x: np.ndarray, n: np.ndarray, xr: float, nr: float) -> tuple[np.ndarray, np.ndarray]:
    """Pooled two-proportion z statistic of ``x/n - xr/nr`` and its two-sided p-value."""
    pooled = (x + xr) / (n + nr)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n + 1 / nr))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (x / n - xr / nr) / se, np.nan)
    return z, 2 * stats.norm.sf(np.abs(z))


def _fisher(x: np.ndarray, n: np.ndarray, xr: int, nr: int) -> np.ndarray:
    """Two-sided Fisher exact p-value of each group's 2x2 table against the reference."""
    return np.array([
        stats.fisher_exact([[int(a), int(b - a)], [xr, nr - xr]])[1]
        for a, b in zip(x, n, strict=True)
    ])


def _verdict(below: bool, significant: bool) -> str:
    if below and significant:
        return "both: below four fifths and statistically significant"
    if below:
        return "below four fifths only (not statistically significant)"
    if significant:
        return "statistically significant only (ratio at or above four fifths)"
    return "neither"


def _counts(data: Any, group: str, selected: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cols = read_columns(data, {"group": group, "selected": selected})
    sel = binary_column(cols["selected"], selected)
    labels = pl.Series(cols["group"])
    if labels.null_count() or (labels.dtype.is_float() and labels.is_nan().any()):
        raise EvenhandError(
            f"The group column {group!r} has missing values. Fill them with a label "
            "(e.g. 'unknown') or drop those rows."
        )
    keys, codes = np.unique(labels.to_numpy(), return_inverse=True)
    if keys.size < 2:
        raise EvenhandError(
            f"Every individual is in one group ({keys.tolist()}) of {group!r}; adverse impact "
            "compares groups. Pass a column with at least two groups."
        )
    n = np.bincount(codes, minlength=keys.size).astype(np.int64)
    x = np.bincount(codes, weights=sel, minlength=keys.size).astype(np.int64)
    return keys, n, x


def adverse_impact(
    data: Any, *, group: str, selected: str, alpha: float = 0.05, level: float = 0.95
) -> AdverseImpact:
    """Adverse-impact analysis of a selection procedure (29 CFR 1607.4(D)).

    Every group is compared with the reference group, the one with the highest selection
    rate (ties: the first in sorted order).

    Parameters
    ----------
    data : DataFrame
        Any supported dataframe, one row per applicant.
    group : str
        Column with the group (e.g. race or sex) of each applicant; no missing values.
    selected : str
        Binary column: 1 (True) if selected, 0 (False) otherwise.
    alpha : float
        Significance level of the verdict; a group is "statistically significant" when
        Fisher's exact two-sided p-value is below ``alpha``.
    level : float
        Confidence level of the Wilson (rate) and Katz (ratio) intervals.

    Returns
    -------
    AdverseImpact
        ``.table`` has, per group: ``n``, ``selected``, ``rate = selected / n``
        (``rate_low``/``rate_high``: Wilson); ``impact_ratio = rate / rate_reference``
        (group over reference, so < 1 means a lower rate; ``nan`` with
        ``ratio_defined = False`` when the reference rate is 0; ``ratio_low``/``ratio_high``:
        Katz; ``nan`` on the reference row); ``below_four_fifths = impact_ratio < 0.8``
        (compared exactly on the counts); ``z`` and ``z_pvalue`` of the
        pooled two-proportion z-test ``(p - p_ref) / sqrt(p̄(1-p̄)(1/n + 1/n_ref))``
        (``nan`` when the pooled rate is 0 or 1); ``fisher_pvalue`` (two-sided);
        ``shortfall = ceil(n * rate_ref - selected)`` and
        ``shortfall_four_fifths = ceil(0.8 * n * rate_ref - selected)`` (extra selections
        needed to reach the reference rate and four fifths of it; rounded up, never below 0);
        ``verdict`` in plain language.

    Examples
    --------
    The Uniform Guidelines Q&A example: 80 of 120 white and 12 of 40 Black applicants hired.

    >>> import polars as pl
    >>> from evenhand.compliance import adverse_impact
    >>> df = pl.DataFrame({"race": ["white"] * 120 + ["Black"] * 40,
    ...                    "hired": [1] * 80 + [0] * 40 + [1] * 12 + [0] * 28})
    >>> res = adverse_impact(df, group="race", selected="hired")
    >>> row = res.table.filter(pl.col("group") == "Black").row(0, named=True)
    >>> round(row["impact_ratio"], 2), row["shortfall"], row["shortfall_four_fifths"]
    (0.45, 15, 10)
    >>> row["verdict"]
    'both: below four fifths and statistically significant'
    """
    keys, n, x = _counts(data, group, selected)
    rate = x / n
    ref = int(np.argmax(rate))
    z_crit = normal_quantile(level)
    rate_low, rate_high = wilson(x, n, z_crit)
    ref_rate = rate[ref]
    ratio_defined = np.full(keys.size, ref_rate > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        # from the integer counts, so a ratio of exactly 4/5 is not 0.7999...
        ratio = np.where(ratio_defined, (x * n[ref]) / (n * x[ref]), np.nan)
    ratio_low, ratio_high = katz(x, n, np.full(keys.size, x[ref]), np.full(keys.size, n[ref]),
                                 z_crit)
    is_ref = np.arange(keys.size) == ref
    ratio_low = np.where(is_ref, np.nan, ratio_low)
    ratio_high = np.where(is_ref, np.nan, ratio_high)
    z, z_p = _z_test(x.astype(float), n.astype(float), float(x[ref]), float(n[ref]))
    fisher_p = _fisher(x, n, int(x[ref]), int(n[ref]))
    below = ratio_defined & (5 * x * n[ref] < 4 * n * x[ref])  # exact: ratio < 4/5
    significant = fisher_p < alpha
    verdict = ["reference group" if r else _verdict(bool(b), bool(s))
               for r, b, s in zip(is_ref, below, significant, strict=True)]
    table = pl.DataFrame({
        "group": keys.tolist(), "reference": is_ref, "n": n, "selected": x, "rate": rate,
        "rate_low": rate_low, "rate_high": rate_high, "impact_ratio": ratio,
        "ratio_defined": ratio_defined, "ratio_low": ratio_low, "ratio_high": ratio_high,
        "below_four_fifths": below, "z": z, "z_pvalue": z_p, "fisher_pvalue": fisher_p,
        "shortfall": _shortfall(np.full(keys.size, ref_rate), n, x),
        "shortfall_four_fifths": _shortfall(np.full(keys.size, FOUR_FIFTHS * ref_rate), n, x),
        "significant": significant, "verdict": verdict,
    })
    reference = table.get_column("group")[ref]
    return AdverseImpact(output_like(table, data), reference, alpha, level, table)
