"""One-page HTML cards for decision records, in plain language.

Self-contained (inline CSS, no scripts, no network), one card per printed page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jinja2

__all__ = ["render_cards"]

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Decision record{{ 's' if cards|length > 1 }}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;color:#1b1b1b;margin:0;
background:#f4f4f4}
.card{background:#fff;max-width:46rem;margin:1.5rem auto;padding:1.5rem 2rem;
border:1px solid #ccc;page-break-after:always;break-after:page}
h1{font-size:1.35rem;margin:0 0 .3rem} h2{font-size:1.02rem;margin:1.1rem 0 .35rem;
border-bottom:1px solid #ddd;padding-bottom:.15rem}
p{margin:.3rem 0;line-height:1.4} small,.muted{color:#555}
table{border-collapse:collapse;width:100%;font-size:.88rem}
td,th{padding:.15rem .4rem;text-align:left;border-bottom:1px solid #eee;vertical-align:middle}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.bar{height:.7rem;display:inline-block;vertical-align:middle}
.up{background:#b5521b}.down{background:#2a6f97}
.outcome{font-size:1.1rem;font-weight:600}
code{font-size:.78rem;word-break:break-all}
@media print{body{background:#fff}.card{border:none;margin:0;max-width:none}}
</style></head><body>
{% for c in cards %}
<section class="card">
<h1>Decision record {{ c.row_id }}</h1>
<p class="outcome">Outcome: {{ c.outcome }}</p>
<p>{{ c.score_sentence }}</p>

<h2>How sure is this?</h2>
<p>{{ c.confidence_sentence }}</p>
<p class="muted"><small>{{ c.guarantee }}</small></p>

<h2>What drove it</h2>
<p class="muted"><small>{{ c.contribution_sentence }}</small></p>
<table>
<tr><th>Input</th><th>Value used</th><th class="num">Effect</th><th></th></tr>
{% for row in c.factors %}
<tr><td>{{ row.name }}</td><td>{{ row.value }}</td><td class="num">{{ row.effect }}</td>
<td><span class="bar {{ row.side }}" style="width:{{ row.width }}px"></span></td></tr>
{% endfor %}
</table>
{% if c.hidden_factors %}<p class="muted"><small>{{ c.hidden_factors }} smaller effects
not shown.</small></p>{% endif %}

<h2>What would change it</h2>
<p>{{ c.recourse_note }}</p>

<h2>How the model errs for people like you</h2>
{% for line in c.context_lines %}<p>{{ line }}</p>{% endfor %}
<p class="muted"><small>Measured on {{ c.context_size }} calibration cases of your group;
ranges are 95% confidence intervals.</small></p>

<h2>What was used</h2>
<p class="muted"><small>Model {{ c.model_class }} · parameters
<code>{{ c.params }}</code> · fitted model <code>{{ c.fitted }}</code> · calibration data
<code>{{ c.calibration }}</code> ({{ c.calibration_rows }} rows).</small></p>
</section>
{% endfor %}
</body></html>
"""

_ENV = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
_PAGE = _ENV.from_string(_TEMPLATE)
_MAX_FACTORS = 10
_RATE_WORDS = {
    "fpr": "the share of people with a negative true outcome who were given a positive "
    "decision (false positive rate)",
    "fnr": "the share of people with a positive true outcome who were given a negative "
    "decision (false negative rate)",
    "mae": "average size of the model's error",
    "mean_residual": "average of prediction minus outcome",
}


def render_cards(records: Sequence[Any]) -> str:
    """Render decision records (objects or their ``to_dict()``) as one HTML document.

    Parameters
    ----------
    records : sequence of DecisionRecord or dict
        The records; each becomes one page.

    Returns
    -------
    str
        A self-contained HTML document.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from evenhand.explain import DecisionExplainer, render_cards
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=(400, 2))
    >>> y = (x[:, 0] + rng.normal(size=400) > 0).astype(int)
    >>> model = LogisticRegression().fit(x[:200], y[:200])
    >>> cal = {"a": x[200:, 0], "b": x[200:, 1], "g": rng.choice(["u", "v"], 200), "y": y[200:]}
    >>> explainer = DecisionExplainer(model, calibration_data=cal, y_true="y", sensitive="g",
    ...                               features=["a", "b"], seed=0)
    >>> rows = {"a": [0.3, -2.0], "b": [-1.0, 0.5], "g": ["u", "v"]}
    >>> html = render_cards(explainer.explain(rows))
    >>> html.count('<section class="card">')
    2
    """
    dicts = [r.to_dict() if hasattr(r, "to_dict") else r for r in records]
    return _PAGE.render(cards=[_card(d) for d in dicts])


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "not available"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _card(d: dict[str, Any]) -> dict[str, Any]:
    mid = d["model_id"]
    return {
        "row_id": d["row_id"],
        "outcome": _outcome(d),
        "score_sentence": (
            f"The model gave a score of {_num(d['score'])}; decisions are positive when the "
            f"score is at least {_num(d['threshold'])}."
        ),
        "confidence_sentence": _confidence(d),
        "guarantee": d["guarantee"],
        "contribution_sentence": _contribution_sentence(d),
        "factors": _factors(d),
        "hidden_factors": max(0, len(d["contributions"]) - _MAX_FACTORS),
        "recourse_note": d["recourse_note"],
        "context_lines": _context_lines(d["group_context"]),
        "context_size": d["group_context"].get("group_size"),
        "model_class": mid["class"],
        "params": mid["params_sha256"][:16],
        "fitted": mid["fitted_sha256"][:16],
        "calibration": mid["calibration_sha256"][:16],
        "calibration_rows": mid["calibration_rows"],
    }


def _outcome(d: dict[str, Any]) -> str:
    word = "positive" if d["decision"] == 1 else "negative"
    label = f" (class {d['label']!s})" if d.get("label") is not None else ""
    return f"{word}{label}"


def _confidence(d: dict[str, Any]) -> str:
    level = f"{d['coverage']:.0%}"
    if d["prediction_set"] is not None:
        labels = ", ".join(str(v) for v in d["prediction_set"]) or "none"
        verdict = (
            "the model is confident about the outcome"
            if len(d["prediction_set"]) == 1
            else "the model cannot tell these outcomes apart with that confidence"
        )
        return (
            f"With {level} confidence for people in your group, the true outcome is among: "
            f"{labels}. So {verdict}."
        )
    low, high = d["interval"]
    if low is None or high is None:
        return (
            f"Your group has too few calibration cases for a finite range at {level} "
            "confidence, so no outcome can be ruled out."
        )
    return (
        f"With {level} confidence for people in your group, the true outcome lies between "
        f"{_num(low)} and {_num(high)}."
    )


def _contribution_sentence(d: dict[str, Any]) -> str:
    how = {
        "linear-exact": "exact for this linear model",
        "tree-shap": "TreeSHAP, exact for this tree model",
        "sampling-shapley": "estimated by sampling; ± shows the standard error",
    }[d["contribution_method"]]
    return (
        f"Effects are on the {d['contribution_scale']} scale ({how}) and add up to the "
        f"difference between this score and the average score of "
        f"{_num(d['contribution_baseline'])}."
    )


def _factors(d: dict[str, Any]) -> list[dict[str, Any]]:
    contributions = d["contributions"]
    se = d.get("contribution_se") or {}
    ordered = sorted(contributions, key=lambda k: -abs(contributions[k] or 0.0))
    top = ordered[:_MAX_FACTORS]
    largest = max((abs(contributions[k] or 0.0) for k in top), default=0.0) or 1.0
    rows = []
    for name in top:
        value = contributions[name] or 0.0
        effect = f"{value:+.3g}" + (f" ± {se[name]:.2g}" if se.get(name) is not None else "")
        rows.append({
            "name": name,
            "value": _num(d["inputs"].get(name)),
            "effect": effect,
            "side": "up" if value > 0 else "down",
            "width": round(120 * abs(value) / largest),
        })
    return rows


def _context_lines(ctx: dict[str, Any]) -> list[str]:
    lines = []
    others = ctx.get("other_groups", {})
    for metric, this in ctx["this_group"].items():
        text = (
            f"For your group ({ctx['group']}), {_RATE_WORDS[metric]}: {_num(this['value'])} "
            f"(from {_num(this['low'])} to {_num(this['high'])})"
        )
        if metric in others:
            other = others[metric]
            text += (
                f"; for everyone else: {_num(other['value'])} "
                f"(from {_num(other['low'])} to {_num(other['high'])})"
            )
        lines.append(text + ".")
    return lines
