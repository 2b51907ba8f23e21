"""Disparities between groups and the summary of named fairness definitions.

Conventions (the same for every metric ``m``):

- ``difference = m(group) − m(reference)``; ``ratio = m(group) / m(reference)``. A group
  worse off than the reference on a higher-is-better metric has a negative difference and a
  ratio below 1.
- ``between_groups_difference = max − min`` (≥ 0) and ``between_groups_ratio = min / max``
  (in [0, 1]) over the groups of one grouping.

How peers map onto these: fairlearn's ``demographic_parity_difference`` / ``_ratio`` and
``equalized_odds_difference`` / ``_ratio`` are the between-groups difference and ratio
(equalized odds: the larger of the TPR and FPR differences, the smaller of their ratios).
aif360's ``statistical_parity_difference``, ``disparate_impact``,
``equal_opportunity_difference`` are ``difference`` / ``ratio`` of an unprivileged group
with ``reference`` = the privileged group; ``average_odds_difference`` is the mean of the
TPR and FPR differences. SageMaker Clarify's DPPL is ``q_a − q_d`` (advantaged minus
disadvantaged): the *negative* of our difference with the advantaged group as reference.

Intervals: with ``ci_method="wilson"`` rate differences against another group use Newcombe's
hybrid score interval and ratios Katz's log interval; every other case (non-rate metrics,
the ``"overall"`` reference, which is not independent of its groups, and
``ci_method="bootstrap"``) uses percentiles of the count-table bootstrap. The between-groups
spread gets simultaneous intervals: all pairwise intervals at a Bonferroni-corrected level
(analytic) or a bootstrap max-|t| band, then bounded through ``max_ij |m_i − m_j|`` and
``min_ij m_i / m_j``, so coverage holds also when every group is equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from scipy import stats as sps

from evenhand._core._errors import EvenhandError
from evenhand._core._levels import OVERALL, Level
from evenhand._core._uncertainty import (
    chi2_homogeneity,
    chi2_pvalue,
    katz,
    newcombe,
    normal_quantile,
    spread_interval_from_pairs,
    wald_homogeneity,
)

__all__ = ["DEFINITIONS", "Definition", "disparity_frame", "summary_frame"]


@dataclass(frozen=True)
class Definition:
    """A named fairness definition: which metrics it compares and how it is judged.

    ``kind`` is ``"difference"`` (satisfied when the between-groups difference is at most
    ``tolerance``) or ``"ratio"`` (satisfied when the between-groups ratio is at least
    ``tolerance``). Definitions over two metrics take the worse of the two.
    """

    name: str
    metrics: tuple[str, ...]
    kind: str
    tolerance: float
    description: str


DEFINITIONS: tuple[Definition, ...] = (
    Definition("demographic_parity", ("selection_rate",), "difference", 0.05,
               "equal selection rates"),
    Definition("disparate_impact", ("selection_rate",), "ratio", 0.8,
               "selection-rate ratio at least 0.8 (four-fifths rule)"),
    Definition("equal_opportunity", ("tpr",), "difference", 0.05, "equal true positive rates"),
    Definition("predictive_equality", ("fpr",), "difference", 0.05,
               "equal false positive rates"),
    Definition("equalized_odds", ("tpr", "fpr"), "difference", 0.05,
               "equal true and false positive rates"),
    Definition("error_rate_balance", ("fpr", "fnr"), "difference", 0.05,
               "equal false positive and false negative rates"),
    Definition("predictive_parity", ("ppv",), "difference", 0.05,
               "equal positive predictive values"),
    Definition("accuracy_parity", ("accuracy",), "difference", 0.05, "equal accuracy"),
    Definition("treatment_equality", ("treatment_equality",), "ratio", 0.8,
               "equal ratio of false negatives to false positives"),
    Definition("calibration", ("calibration_gap",), "difference", 0.05,
               "the score means the same outcome rate in every group"),
)


# ---------------------------------------------------------------- reference groups


def resolve_reference(level: Level, reference: Any, metric: int) -> int | None:
    """Index of the reference group within ``level``; ``None`` means the overall population.

    ``reference`` is ``None`` (the largest group), ``"overall"``, ``"best"`` (best value of
    the metric), a group value, or a dict of column → value.
    """
    if reference is None:
        return int(np.argmax(level.count))
    if isinstance(reference, str) and reference == OVERALL:
        return None
    if isinstance(reference, str) and reference == "best":
        return _best_index(level, metric)
    found = find_group(level, reference)
    return int(np.argmax(level.count)) if found is None else found


def find_group(level: Level, reference: Any) -> int | None:
    """Row of ``level`` matching ``reference`` (value or dict), or ``None`` if it has none."""
    if isinstance(reference, Mapping):
        if not set(level.attrs) <= set(reference):
            return None
        wanted = tuple(reference[a] for a in level.attrs)
    elif len(level.attrs) == 1:
        wanted = (reference,)
    else:
        return None
    for i, row in enumerate(level.keys.iter_rows()):
        if tuple(str(v) for v in row) == tuple(str(v) for v in wanted):
            return i
    return None


def _best_index(level: Level, metric: int) -> int:
    values = level.value[metric]
    if np.all(np.isnan(values)):
        return int(np.argmax(level.count))
    better = level.higher_is_better[metric]
    if better is None:  # closest to the median group
        return int(np.nanargmin(np.abs(values - np.nanmedian(values))))
    return int(np.nanargmax(values) if better else np.nanargmin(values))


# ---------------------------------------------------------------- disparities


def _pair_interval(level: Level, ref: Level, m: int, g: int, r: int | None, z: float, wilson: bool):
    """Difference and ratio intervals of group ``g`` against reference ``r``."""
    if r is not None and g == r:
        return (0.0, 0.0, 1.0, 1.0), "exact"
    if wilson and level.methods[m] == "wilson" and r is not None:
        args = (level.num[m, g], level.den[m, g], level.num[m, r], level.den[m, r])
        dl, dh = newcombe(*args, z)
        rl, rh = katz(*args, z)
        return (float(dl), float(dh), float(rl), float(rh)), "newcombe/katz"
    if level.boot is None:
        return (np.nan,) * 4, "none"
    if r is None:
        # levels of one audit are bootstrapped together: the overall level has draws too
        assert ref.boot is not None
        ref_boot = ref.boot[:, m, 0]
    else:
        ref_boot = level.boot[:, m, r]
    g_boot = level.boot[:, m, g]
    alpha = 1 - (2 * sps.norm.cdf(z) - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        diffs = g_boot - ref_boot
        ratios = g_boot / ref_boot
    out = []
    for a in (diffs, ratios):
        a = a[np.isfinite(a)]
        out += [float(np.quantile(a, alpha / 2)), float(np.quantile(a, 1 - alpha / 2))] \
            if a.size else [np.nan, np.nan]
    return tuple(out), "bootstrap"


def disparity_frame(
    levels: list[Level], overall: Level, reference: Any, ci: float, wilson: bool
) -> pl.DataFrame:
    """Long frame of every group's difference and ratio against the reference."""
    z = normal_quantile(ci)
    _check_reference(levels, reference)
    rows = []
    for level in levels:
        labels = level.labels()
        for m, name in enumerate(level.names):
            r = resolve_reference(level, reference, m)
            ref_value = overall.value[m, 0] if r is None else level.value[m, r]
            for g in range(len(labels)):
                (dl, dh, rl, rh), method = _pair_interval(level, overall, m, g, r, z, wilson)
                v = level.value[m, g]
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = v / ref_value if ref_value != 0 else np.nan
                rows.append({
                    "by": level.by, **_key_dict(level, g), "metric": name,
                    "reference": OVERALL if r is None else labels[r],
                    "value": v, "reference_value": ref_value, "difference": v - ref_value,
                    "difference_ci_low": dl, "difference_ci_high": dh, "ratio": ratio,
                    "ratio_ci_low": rl, "ratio_ci_high": rh, "ci_method": method,
                })
    return pl.DataFrame(rows, infer_schema_length=None)


def _check_reference(levels: list[Level], reference: Any) -> None:
    if reference is None or (isinstance(reference, str) and reference in (OVERALL, "best")):
        return
    if any(find_group(level, reference) is not None for level in levels):
        return
    options = sorted({label for level in levels if len(level.attrs) == 1
                      for label in level.labels()})
    raise EvenhandError(
        f"reference={reference!r} matches no group. Use one of {options}, a dict of "
        "column -> value for an intersection, 'overall' or 'best'."
    )


def _key_dict(level: Level, g: int) -> dict[str, Any]:
    return dict(zip(level.attrs, level.keys.row(g), strict=False)) if level.attrs else {}


# ---------------------------------------------------------------- summary


class _PairBands:
    """Simultaneous intervals of every pairwise difference and ratio within one grouping.

    Analytic (``wilson`` rows): Newcombe and Katz intervals at a Bonferroni-corrected level.
    Bootstrap: a max-|t| band ``point ± c·se`` over all pairs, with ``c`` the ``1 − alpha``
    quantile of ``max_pairs |t*|``; the per-pair standard errors and the ``max |t*|`` draws
    depend only on the metric, so they are computed once and reused for every ``alpha``.
    Pairs ``i < j`` suffice: the band of ``m_j − m_i`` is the mirror of that of ``m_i − m_j``.
    """

    def __init__(self, level: Level) -> None:
        self.level = level
        self._draws: dict[int, tuple] = {}
        self._spreads: dict[tuple[int, float], dict[str, float]] = {}

    def spread(self, m: int, alpha: float) -> dict[str, float]:
        """Between-groups difference and ratio of metric row ``m`` with their intervals."""
        if (m, alpha) not in self._spreads:
            self._spreads[m, alpha] = self._spread(m, alpha)
        return self._spreads[m, alpha]

    def _spread(self, m: int, alpha: float) -> dict[str, float]:
        values = self.level.value[m][np.isfinite(self.level.value[m])]
        if values.size < 2:
            nan = float("nan")
            return {"diff": nan, "ratio": nan, "dl": nan, "dh": nan, "rl": nan, "rh": nan}
        dl, dh, rl, rh = spread_interval_from_pairs(*self._pairs(m, alpha))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = values.min() / values.max() if values.max() != 0 else np.nan
        return {"diff": float(values.max() - values.min()), "ratio": float(ratio),
                "dl": dl, "dh": dh, "rl": rl, "rh": rh}

    def _pairs(self, m: int, alpha: float) -> tuple[np.ndarray, ...]:
        """Interval bounds of every pair ``i < j`` of groups with a finite value."""
        level = self.level
        keep = np.flatnonzero(np.isfinite(level.value[m]))
        i, j = np.triu_indices(len(keep), 1)
        if level.methods[m] == "wilson":
            z = normal_quantile(1 - alpha / i.size)
            x, n = level.num[m, keep], level.den[m, keep]
            return (*newcombe(x[i], n[i], x[j], n[j], z), *katz(x[i], n[i], x[j], n[j], z))
        if level.boot is None:
            return (np.full(i.size, np.nan),) * 4
        if m not in self._draws:
            self._draws[m] = self._bootstrap_pairs(level.boot, m, keep, i, j)
        (d, d_se, d_max), (r, r_se, r_max) = self._draws[m]
        cd, cr = _upper_quantile(d_max, alpha), _upper_quantile(r_max, alpha)
        with np.errstate(invalid="ignore", over="ignore"):
            return d - cd * d_se, d + cd * d_se, np.exp(r - cr * r_se), np.exp(r + cr * r_se)

    def _bootstrap_pairs(self, level_boot: np.ndarray, m, keep, i, j) -> tuple[tuple, tuple]:
        boot = level_boot[:, m, keep]
        value = self.level.value[m, keep]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_boot, log_value = np.log(boot), np.log(value)
            return (_max_t(boot[:, i] - boot[:, j], value[i] - value[j]),
                    _max_t(log_boot[:, i] - log_boot[:, j], log_value[i] - log_value[j]))


def _max_t(reps: np.ndarray, point: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pair bootstrap standard errors and the sorted draws of ``max_pairs |t*|``.

    Pairs without a finite estimate, a positive standard error or two finite replicates get
    no band (their bounds are the point estimate); the draws are the finite maxima.
    """
    finite = np.isfinite(reps)
    if finite.all():  # the usual case, without masks
        count = np.full(point.shape, reps.shape[0])
        se = reps.std(axis=0)
    else:
        count = finite.sum(axis=0)
        mean = np.where(finite, reps, 0.0).sum(axis=0) / np.maximum(count, 1)
        deviation = np.where(finite, reps - mean, 0.0)
        se = np.sqrt((deviation**2).sum(axis=0) / np.maximum(count, 1))
    used = (se > 0) & np.isfinite(point) & (count > 1)
    if not used.any():
        return point, np.zeros_like(point), np.empty(0)
    with np.errstate(invalid="ignore"):
        t = np.abs(reps[:, used] - point[used]) / se[used]
    t_max = np.where(finite[:, used], t, -np.inf).max(axis=1)
    return point, np.where(used, se, 0.0), np.sort(t_max[np.isfinite(t_max)])


def _upper_quantile(ordered: np.ndarray, alpha: float) -> float:
    """Return the ``1 − alpha`` quantile of sorted draws, as ``numpy.quantile`` (0 if none)."""
    if ordered.size == 0:
        return 0.0
    pos = (1 - alpha) * (ordered.size - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, ordered.size - 1)
    return float(ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo))


def _homogeneity_p(level: Level, metrics: list[int]) -> float:
    total, df = 0.0, 0
    for m in metrics:
        if level.methods[m] == "wilson" or np.isfinite(level.num[m]).all():
            stat, d = chi2_homogeneity(level.num[m], level.den[m])
        else:
            stat, d = _wald_stat(level, m)
        if d == 0 or not np.isfinite(stat):
            return float("nan")
        total, df = total + stat, df + d
    return chi2_pvalue(total, df)


def _wald_stat(level: Level, m: int) -> tuple[float, int]:
    if level.boot is None:
        return float("nan"), 0
    reps = np.where(np.isfinite(level.boot[:, m]), level.boot[:, m], np.nan)
    finite = np.isfinite(reps).sum(axis=0)
    mean = np.nansum(reps, axis=0) / np.maximum(finite, 1)
    # a group with fewer than two finite replicates gets variance 0: left out of the test
    var = np.nansum((reps - mean) ** 2, axis=0) / np.maximum(finite - 1, 1)
    return wald_homogeneity(level.value[m], var)


def _worst_best(level: Level, metrics: list[int], spreads: list[dict]) -> tuple[str, str]:
    diffs = np.array([s["diff"] for s in spreads])
    m = metrics[int(np.nanargmax(diffs))] if np.isfinite(diffs).any() else metrics[0]
    values = level.value[m]
    if np.all(np.isnan(values)):
        return "", ""
    labels = level.labels()
    better = level.higher_is_better[m]
    hi, lo = labels[int(np.nanargmax(values))], labels[int(np.nanargmin(values))]
    if better is None or better:
        return lo, hi
    return hi, lo


def summary_frame(
    levels: list[Level],
    ci: float,
    tolerance: float | Mapping[str, float] | None,
    min_count: int = 0,
) -> pl.DataFrame:
    """One row per grouping and named definition; see :data:`DEFINITIONS`.

    Groups with fewer than ``min_count`` rows are left out of the spread (their estimates
    are too noisy to rank) and named in ``excluded_groups``; when fewer than two groups
    remain, every group is used.
    """
    rows = []
    for level in levels:
        keep = level.count >= min_count
        used = level.subset(keep) if 2 <= keep.sum() < keep.size else level
        excluded = [label for label, k in zip(level.labels(), keep, strict=True) if not k]
        if used is level:
            excluded = []
        bands = _PairBands(used)
        for d in DEFINITIONS:
            if not all(name in level.names for name in d.metrics):
                continue
            row = _summary_row(bands, d, ci, _tolerance(d, tolerance))
            rows.append({**row, "excluded_groups": ", ".join(excluded)})
    return pl.DataFrame(rows, infer_schema_length=None)


def _tolerance(d: Definition, tolerance: float | Mapping[str, float] | None) -> float:
    if tolerance is None:
        return d.tolerance
    if isinstance(tolerance, Mapping):
        return float(tolerance.get(d.name, d.tolerance))
    return float(tolerance) if d.kind == "difference" else d.tolerance


def _summary_row(bands: _PairBands, d: Definition, ci: float, tol: float) -> dict[str, Any]:
    level = bands.level
    metrics = [level.index(n) for n in d.metrics]
    alpha = (1 - ci) / len(metrics)
    spreads = [bands.spread(m, alpha) for m in metrics]
    pick = max if d.kind == "difference" else min
    diff = max(s["diff"] for s in spreads)
    ratio = min(s["ratio"] for s in spreads)
    worst, best = _worst_best(level, metrics, spreads)
    dl, dh = pick(s["dl"] for s in spreads), max(s["dh"] for s in spreads)
    rl, rh = min(s["rl"] for s in spreads), min(s["rh"] for s in spreads)
    if d.kind == "difference":
        satisfied, conclusive = diff <= tol, dh <= tol or dl > tol
    else:
        satisfied, conclusive = ratio >= tol, rl >= tol or rh < tol
    return {
        "by": level.by, "definition": d.name, "metric": "+".join(d.metrics),
        "between_groups_difference": diff, "difference_ci_low": dl, "difference_ci_high": dh,
        "between_groups_ratio": ratio, "ratio_ci_low": rl, "ratio_ci_high": rh,
        "p_value": _homogeneity_p(level, metrics), "worst_group": worst, "best_group": best,
        "tolerance": tol, "satisfied": bool(satisfied) if np.isfinite(diff) else None,
        "conclusive": bool(conclusive) if np.isfinite(dl) else None,
    }
