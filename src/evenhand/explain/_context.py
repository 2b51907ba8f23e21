"""How the model errs for each group, measured on the calibration data.

The per-group figures come from :func:`evenhand.audit` (one definition of every rate and
interval); "everyone else" pools the other groups' counts with the same Wilson interval.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evenhand._core._uncertainty import normal_quantile, wilson

__all__ = ["classification_context", "record_context", "regression_context"]

LEVEL = 0.95


def _audit_rows(data: dict[str, np.ndarray], n_groups: int, **kwargs: Any) -> dict[str, Any]:
    """Per-group ``value``/``low``/``high`` of each audited metric, indexed by group code."""
    from evenhand import audit

    result = audit(data, sensitive="group", n_boot=0, ci=LEVEL, min_group_size=0, **kwargs)
    out: dict[str, Any] = {}
    for row in result.metrics.iter_rows(named=True):
        entry = out.setdefault(row["metric"], {k: np.full(n_groups, np.nan)
                                               for k in ("value", "low", "high")})
        g = int(row["group"])
        entry["value"][g], entry["low"][g], entry["high"][g] = (
            row["value"], row["ci_low"], row["ci_high"])
    return out


def _pooled(x: np.ndarray, n: np.ndarray) -> dict[str, np.ndarray]:
    low, high = wilson(x, n, normal_quantile(LEVEL))
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(n > 0, x / np.maximum(n, 1), np.nan)
    return {"value": value, "low": low, "high": high, "errors": x, "of": n}


def classification_context(
    y: np.ndarray, decision: np.ndarray, codes: np.ndarray, n_groups: int
) -> dict[str, dict[str, np.ndarray]]:
    """Per-group false positive and false negative rates with 95% Wilson intervals.

    ``fpr = FP / (FP + TN)``, ``fnr = FN / (FN + TP)`` as :func:`evenhand.audit` defines
    them; each is also given for "everyone else" (all other groups pooled). A group without
    negatives (positives) has ``fpr`` (``fnr``) ``nan``.
    """
    rates = _audit_rows({"y": y, "decision": decision, "group": codes}, n_groups,
                        y_true="y", y_pred="decision", metrics=["fpr", "fnr"])

    def counts(mask: np.ndarray) -> np.ndarray:
        return np.bincount(codes, weights=mask.astype(float), minlength=n_groups)

    fp, neg = counts((decision == 1) & (y == 0)), counts(y == 0)
    fn, pos = counts((decision == 0) & (y == 1)), counts(y == 1)
    return {
        "fpr": {**rates["fpr"], "errors": fp, "of": neg},
        "fnr": {**rates["fnr"], "errors": fn, "of": pos},
        "fpr_others": _pooled(fp.sum() - fp, neg.sum() - neg),
        "fnr_others": _pooled(fn.sum() - fn, pos.sum() - pos),
        "count": {"value": np.bincount(codes, minlength=n_groups).astype(float)},
    }


def regression_context(
    y: np.ndarray, prediction: np.ndarray, codes: np.ndarray, n_groups: int
) -> dict[str, dict[str, np.ndarray]]:
    """Per-group mean absolute error and mean residual ``ŷ − y`` with 95% t intervals.

    As :func:`evenhand.audit` defines them: a positive mean residual means the model
    over-predicts for that group.
    """
    out = _audit_rows({"y": np.asarray(y, float), "p": np.asarray(prediction, float),
                       "group": codes}, n_groups, y_true="y", y_pred="p", task="regression",
                      metrics=["mae", "mean_residual"])
    out["count"] = {"value": np.bincount(codes, minlength=n_groups).astype(float)}
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
        "interval_method": "Wilson score" if "fpr" in table else "Student t",
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
