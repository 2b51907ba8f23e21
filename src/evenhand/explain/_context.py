"""How the model errs for each group, measured on the calibration data.

TODO(audit): use evenhand.audit — these few per-group rates and Wilson intervals are a
private stand-in until the explainer is wired to the audit engine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["classification_context", "record_context", "regression_context"]

Z95 = 1.959963984540054  # standard normal 97.5% quantile: two-sided 95% intervals


def _wilson(x: np.ndarray, n: np.ndarray, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval ``(p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)``.

    ``nan`` bounds where ``n == 0``.
    """
    # TODO(audit): use evenhand.audit (its Wilson intervals) instead of this copy
    x = np.asarray(x, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        z2 = z * z
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = z * np.sqrt(np.clip(p * (1 - p) / n + z2 / (4 * n * n), 0, None)) / (1 + z2 / n)
    low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
    high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    return low, high


def _rate(x: np.ndarray, n: np.ndarray) -> dict[str, Any]:
    low, high = _wilson(x, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(n > 0, x / np.maximum(n, 1), np.nan)
    return {"value": value, "low": low, "high": high, "errors": x, "of": n}


def classification_context(
    y: np.ndarray, decision: np.ndarray, codes: np.ndarray, n_groups: int
) -> dict[str, dict[str, np.ndarray]]:
    """Per-group false positive and false negative rates with 95% Wilson intervals.

    ``fpr = FP / (FP + TN)`` (share of true negatives given a positive decision) and
    ``fnr = FN / (FN + TP)``. Each is also computed for "everyone else" (all other
    groups pooled). A group without negatives (positives) has ``fpr`` (``fnr``) ``nan``.
    """
    # TODO(audit): use evenhand.audit
    def counts(mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes, weights=mask.astype(float), minlength=n_groups)

    fp, neg = counts((decision == 1) & (y == 0)), counts(y == 0)
    fn, pos = counts((decision == 0) & (y == 1)), counts(y == 1)
    return {
        "fpr": _rate(fp, neg),
        "fnr": _rate(fn, pos),
        "fpr_others": _rate(fp.sum() - fp, neg.sum() - neg),
        "fnr_others": _rate(fn.sum() - fn, pos.sum() - pos),
        "count": {"value": np.bincount(codes, minlength=n_groups).astype(float)},
    }


def regression_context(
    y: np.ndarray, prediction: np.ndarray, codes: np.ndarray, n_groups: int
) -> dict[str, dict[str, np.ndarray]]:
    """Per-group mean absolute error and mean residual ``y - ŷ`` with 95% normal intervals."""
    n = np.bincount(codes, minlength=n_groups).astype(float)
    out: dict[str, dict[str, np.ndarray]] = {"count": {"value": n}}
    for name, values in (("mae", np.abs(y - prediction)), ("mean_residual", y - prediction)):
        s1 = np.bincount(codes, weights=values, minlength=n_groups)
        s2 = np.bincount(codes, weights=values**2, minlength=n_groups)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = s1 / n
            var = np.clip(s2 / n - mean**2, 0, None) * n / (n - 1)
            half = Z95 * np.sqrt(var / n)
        out[name] = {"value": mean, "low": mean - half, "high": mean + half}
    return out


def _pick(stat: dict[str, np.ndarray], i: int) -> dict[str, float]:
    return {k: float(v[i]) for k, v in stat.items()}


def record_context(
    table: dict[str, dict[str, np.ndarray]], labels: np.ndarray, code: int
) -> dict[str, Any]:
    """Build one person's context: their group's rates, everyone else's, every group's."""
    metrics = [m for m in ("fpr", "fnr", "mae", "mean_residual") if m in table]
    this = {m: _pick(table[m], code) for m in metrics}
    context: dict[str, Any] = {
        "source": "calibration data",
        "confidence_level": 0.95,
        "interval_method": "Wilson score" if "fpr" in table else "normal approximation",
        "group": str(labels[code]),
        "group_size": int(table["count"]["value"][code]),
        "this_group": this,
    }
    if "fpr" in table:
        others = {m: _pick(table[f"{m}_others"], code) for m in ("fpr", "fnr")}
        context["other_groups"] = others
        with np.errstate(divide="ignore", invalid="ignore"):
            context["difference_to_others"] = {
                m: this[m]["value"] - others[m]["value"] for m in ("fpr", "fnr")
            }
            context["ratio_to_others"] = {
                m: float(np.float64(this[m]["value"]) / others[m]["value"])
                if others[m]["value"] != 0 else float("nan")
                for m in ("fpr", "fnr")
            }
    context["by_group"] = {
        str(label): {m: float(table[m]["value"][i]) for m in metrics}
        | {"count": int(table["count"]["value"][i])}
        for i, label in enumerate(labels)
    }
    return context
