"""Plain-language sentences for an audit: what each fairness definition means *here*.

Sentences compare the groups with the highest and lowest value of a definition's metric among
the groups of at least ``min_group_size`` people (tiny groups make extreme but meaningless
comparisons; they are named separately). The words for the outcome, the decision and the
people come from :class:`Wording`, which defaults to the column names and can be set to the
domain's words, e.g. for COMPAS::

    Wording(people="defendants", outcome="reoffended within two years",
            no_outcome="did not reoffend within two years",
            selected="labelled medium or high risk", not_selected="labelled low risk")

giving "Among defendants who did not reoffend within two years, African-American defendants
were labelled medium or high risk 1.9× as often as Caucasian defendants (45% vs 23%)."
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from evenhand._core._errors import EvenhandError
from evenhand._core._levels import Level

__all__ = [
    "Wording",
    "definition_sentence",
    "format_interval",
    "tradeoff_intro",
    "tradeoff_paragraphs",
    "verdict_sentence",
    "wording_for",
]


@dataclass(frozen=True)
class Wording:
    """Words used in the report's sentences.

    ``outcome``/``no_outcome`` complete "people who …"; ``selected``/``not_selected``
    complete "people were …".
    """

    people: str = "people"
    outcome: str = "had the outcome (label 1)"
    no_outcome: str = "did not have the outcome (label 0)"
    selected: str = "selected"
    not_selected: str = "not selected"


def wording_for(config: Mapping[str, Any], wording: Wording | Mapping[str, str] | None) -> Wording:
    """Default wording from an audit's columns, overridden by ``wording``."""
    yt = config["y_true"]
    if config.get("y_pred"):
        decision = f"{config['y_pred']} = 1"
    else:
        decision = f"{config['y_score']} ≥ {config['threshold']:g}"
    base = Wording(outcome=f"had {yt} = 1", no_outcome=f"had {yt} = 0",
                   selected=f"selected ({decision})", not_selected="not selected")
    if wording is None:
        return base
    if isinstance(wording, Wording):
        return wording
    names = {f.name for f in fields(Wording)}
    unknown = sorted(set(wording) - names)
    if unknown:
        raise EvenhandError(
            f"wording has unknown key {unknown[0]!r}; use any of {sorted(names)}.")
    return Wording(**{**base.__dict__, **dict(wording)})


def _pct(v: float) -> str:
    if not np.isfinite(v):
        return "n/a"
    return f"{v:.0%}" if v >= 0.1 or v == 0 else f"{v:.1%}"


def _times(a: float, b: float) -> str:
    if not (np.isfinite(a) and np.isfinite(b)) or b <= 0:
        return "far more often than"
    r = a / b
    return "about as often as" if round(r, 1) == 1.0 else f"{r:.1f}× as often as"


def _adequate(level: Level, m: int, min_group_size: int) -> np.ndarray:
    """Flag the groups whose estimate rests on at least ``min_group_size`` people.

    For a rate that is its denominator (e.g. the people without the outcome, for the false
    positive rate); otherwise the group's size.
    """
    size = level.den[m] if np.isfinite(level.den[m]).all() else level.count
    return (np.asarray(size) >= min_group_size) & np.isfinite(level.value[m])


def _extremes(level: Level, metric: str, min_group_size: int, reference: Any = None):
    """(higher label, value, lower label, value, left-out labels) for a comparison.

    With a reference group in this grouping: the reference against the group whose value is
    farthest from it (by ratio); otherwise the highest against the lowest group. Only groups
    whose estimate rests on at least ``min_group_size`` people take part.
    """
    from evenhand._core._disparity import find_group

    m = level.index(metric)
    labels = level.labels()
    ok = _adequate(level, m, min_group_size)
    left_out = [labels[g] for g in np.flatnonzero(~ok & np.isfinite(level.value[m]))]
    big = np.flatnonzero(ok)
    if big.size < 2:
        return None
    v = level.value[m]
    ref = find_group(level, reference) if reference is not None else None
    if ref is not None and ok[ref] and v[ref] > 0:
        others = [g for g in big if g != ref]
        with np.errstate(divide="ignore"):
            far = max(others, key=lambda g: abs(np.log(v[g] / v[ref])) if v[g] > 0 else np.inf)
        hi, lo = (far, ref) if v[far] >= v[ref] else (ref, far)
    else:
        hi = max(big, key=lambda g: v[g])
        lo = min(big, key=lambda g: v[g])
    return labels[hi], float(v[hi]), labels[lo], float(v[lo]), left_out


def _rate_sentence(metric: str, ext, w: Wording) -> str:
    hi, a, lo, b, _ = ext
    p = w.people
    among = {"selection_rate": "", "tpr": f"Among {p} who {w.outcome}, ",
             "fpr": f"Among {p} who {w.no_outcome}, ",
             "fnr": f"Among {p} who {w.outcome}, "}[metric]
    verb = w.not_selected if metric == "fnr" else w.selected
    start = among or ""
    subject = f"{hi} {p}"
    text = f"{subject} were {verb} {_times(a, b)} {lo} {p} ({_pct(a)} vs {_pct(b)})."
    return start + (text if start else text[0].upper() + text[1:])


def _metric_sentence(metric: str, ext, w: Wording) -> str:
    hi, a, lo, b, _ = ext
    p = w.people
    if metric in ("selection_rate", "tpr", "fpr", "fnr"):
        return _rate_sentence(metric, ext, w)
    if metric == "ppv":
        return (f"Among {p} {w.selected}, the share who {w.outcome} was {_pct(a)} for {hi} "
                f"{p} and {_pct(b)} for {lo} {p}.")
    if metric == "accuracy":
        return f"Decisions were right for {_pct(a)} of {hi} {p} and {_pct(b)} of {lo} {p}."
    if metric == "treatment_equality":
        return (f"For {hi} {p} there were {a:.2f} missed cases (false negatives) per false "
                f"alarm (false positive); for {lo} {p}, {b:.2f}.")
    if metric == "calibration_gap":
        return (f"At the same score, the outcome rate of {hi} {p} differs from everyone's by "
                f"{a:.1%} on average; for {lo} {p}, by {b:.1%}.")
    return f"{metric}: {a:.3g} for {hi} and {b:.3g} for {lo}."


def definition_sentence(level: Level, row: Mapping[str, Any], min_group_size: int,
                        wording: Wording, reference: Any = None) -> str:
    """One or two sentences saying what a summary row's definition means for these groups.

    ``row`` is a row of ``Audit.summary()``. Definitions over two metrics (equalized odds,
    error-rate balance) get one sentence per metric. With a ``reference`` group (the audit's
    ``reference``) the sentence compares it with the group farthest from it.
    """
    parts = []
    small: list[str] = []
    for metric in str(row["metric"]).split("+"):
        if metric not in level.names:
            continue
        ext = _extremes(level, metric, min_group_size, reference)
        if ext is None:
            continue
        small = ext[4]
        parts.append(_metric_sentence(metric, ext, wording))
    if row["definition"] == "disparate_impact":
        ext = _extremes(level, "selection_rate", min_group_size, reference)
        if ext is not None:
            hi, a, lo, b, small = ext
            parts = [f"{lo} {wording.people} were {wording.selected} at {_pct(b / a)} of the "
                     f"rate of {hi} {wording.people}; the four-fifths rule asks for at least "
                     "80%."] if a > 0 else parts
    if not parts:
        return "Too few groups of sufficient size to compare."
    if small:
        parts.append(f"(Left out of this comparison, as resting on fewer than "
                     f"{min_group_size} people: {', '.join(small)}.)")
    return " ".join(parts)


def format_interval(low: float, high: float, digits: int = 3) -> str:
    """``"[0.12, 0.34]"``, or an em dash when the interval is unavailable."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "—"
    return f"[{low:.{digits}g}, {high:.{digits}g}]"


def verdict_sentence(row: Mapping[str, Any], ci: float) -> str:
    """Whether the definition holds, and whether the interval settles it."""
    kind_ratio = row["definition"] in ("disparate_impact", "treatment_equality")
    tol = row["tolerance"]
    rule = (f"a between-groups ratio of at least {tol:g}" if kind_ratio
            else f"a between-groups difference of at most {tol:g}")
    if row["satisfied"] is None:
        return f"Not computable for these groups (it needs {rule})."
    status = "Met" if row["satisfied"] else "Not met"
    if row["conclusive"] is None:
        sure = "no interval is available."
    elif row["conclusive"]:
        sure = f"the {ci:.0%} interval lies entirely on one side, so this is clear."
    else:
        sure = (f"the {ci:.0%} interval straddles the tolerance, so the data cannot settle it "
                "(more data would).")
    return f"{status}: the definition asks for {rule}; {sure}"


def tradeoff_intro(has_score: bool) -> list[str]:
    """Explain the two impossibility results once, in plain words."""
    out = [
        "Some fairness definitions exclude each other. When the outcome is more common in "
        "one group than another (different base rates), a decision that is not perfect "
        "cannot have equal positive predictive values and equal false positive and false "
        "negative rates at once (Chouldechova 2017): in every group, "
        "FPR = p/(1−p) · (1−PPV)/PPV · (1−FNR), with p the group's base rate."]
    if has_score:
        out.append(
            "For scores, calibration within groups and balance for the positive and negative "
            "class (equal mean score among people who did, and who did not, have the "
            "outcome) cannot all hold unless base rates are equal or prediction is perfect "
            "(Kleinberg, Mullainathan & Raghavan 2016).")
    else:
        out.append(
            "Read as a 0/1 score, the decision meets the same wall (Kleinberg, Mullainathan & "
            "Raghavan 2016): equal positive and negative predictive values (calibration of "
            "the decision) cannot coexist with equal true and false positive rates (balance "
            "for both classes) when base rates differ, unless prediction is perfect.")
    return out


def tradeoff_paragraphs(level: Level, overall: Level, summary_rows: Sequence[Mapping[str, Any]],
                        min_group_size: int, wording: Wording,
                        reference: Any = None) -> list[str]:
    """Say what the impossibility results mean for one grouping, with this data's numbers.

    Chouldechova (2017): ``FPR = p/(1−p) · (1−PPV)/PPV · (1−FNR)`` in every group, so with
    different base rates ``p`` equal PPV forces unequal FPR or FNR (unless prediction is
    perfect); the paragraph gives the false positive rates two groups would need at
    everyone's PPV. Kleinberg, Mullainathan & Raghavan (2016): calibration within groups and
    balance for both classes cannot hold together unless base rates are equal or prediction
    is perfect; the paragraph gives the groups' mean scores per class.
    """
    from evenhand.report._charts import implied_fpr

    p = wording.people
    ext = _extremes(level, "base_rate", min_group_size, reference)
    if ext is None:
        return ["Fewer than two groups are large enough to compare base rates."]
    hi, a, lo, b, _ = ext
    out = [f"Base rates differ: {_pct(a)} of {hi} {p} {wording.outcome}, against {_pct(b)} of "
           f"{lo} {p}."]
    ppv = float(overall.value[overall.index("ppv"), 0])
    labels = level.labels()
    fpr = level.value[level.index("fpr")]
    fnr = level.value[level.index("fnr")]
    base = level.value[level.index("base_rate")]
    gi, gj = labels.index(hi), labels.index(lo)
    implied = implied_fpr(base[[gi, gj]], ppv, fnr[[gi, gj]])
    out.append(
        f"If both groups had everyone's PPV ({ppv:.2f}) and kept their false negative rates, "
        f"{hi} {p} would need a false positive rate of {_pct(implied[0])} and {lo} {p} one of "
        f"{_pct(implied[1])} (they have {_pct(fpr[gi])} and {_pct(fpr[gj])}): equal PPV and "
        "equal error rates cannot both be reached.")
    met = {r["definition"]: r["satisfied"] for r in summary_rows}
    names = {"predictive_parity": "predictive parity (equal PPV)",
             "error_rate_balance": "error-rate balance (equal FPR and FNR)",
             "calibration": "calibration within groups"}
    held = [v for k, v in names.items() if met.get(k)]
    failed = [v for k, v in names.items() if met.get(k) is False]
    if held or failed:
        out.append("For this model: " + "; ".join(
            [f"{x} holds" for x in held] + [f"{x} does not" for x in failed]) + ".")
    if "mean_score_pos" in level.names:
        out.append(_balance_sentence(level, hi, lo, p))
    return out


def _balance_sentence(level: Level, hi: str, lo: str, people: str) -> str:
    labels = level.labels()
    pos = level.value[level.index("mean_score_pos")]
    neg = level.value[level.index("mean_score_neg")]
    i, j = labels.index(hi), labels.index(lo)
    return (f"Mean score among those with the outcome: {pos[i]:.3g} for {hi} {people} and "
            f"{pos[j]:.3g} for {lo} {people}; among those without it: {neg[i]:.3g} and "
            f"{neg[j]:.3g}.")
