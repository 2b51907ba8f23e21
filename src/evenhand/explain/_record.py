"""The decision record: one per explained decision, serialisable as ``evenhand.decision/1``."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

__all__ = ["DECISION_SCHEMA", "SCHEMA_ID", "DecisionRecord", "jsonable", "plain_value"]

SCHEMA_ID = "evenhand.decision/1"

_NUM = {"type": ["number", "null"]}
_NAMED_NUMBERS = {"type": ["object", "null"], "additionalProperties": _NUM}

#: JSON Schema (draft 2020-12) of :meth:`DecisionRecord.to_dict`, schema ``evenhand.decision/1``.
DECISION_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "evenhand decision record",
    "type": "object",
    "required": [
        "schema", "row_id", "task", "model_id", "raw_inputs", "inputs", "group", "score",
        "decision", "threshold", "prediction_set", "interval", "coverage",
        "calibration_group_size", "guarantee", "contributions", "contribution_method",
        "contribution_scale", "contribution_baseline", "contribution_se", "recourse",
        "recourse_method", "recourse_cost", "recourse_score", "recourse_note",
        "group_context",
    ],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "row_id": {"type": ["integer", "string"]},
        "task": {"enum": ["classification", "regression"]},
        "model_id": {
            "type": "object",
            "required": ["class", "params_sha256", "fitted_sha256", "calibration_sha256",
                         "calibration_rows"],
        },
        "raw_inputs": {"type": "object"},
        "inputs": {"type": "object", "additionalProperties": _NUM},
        "group": {"type": "string"},
        "sensitive": {"type": "object"},
        "score": {"type": "number"},
        "decision": {"enum": [0, 1]},
        "label": {},
        "threshold": {"type": "number"},
        "prediction_set": {"type": ["array", "null"]},
        "interval": {"type": ["array", "null"], "items": _NUM, "minItems": 2, "maxItems": 2},
        "coverage": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "calibration_group_size": {"type": "integer", "minimum": 0},
        "guarantee": {"type": "string"},
        "contributions": {"type": "object", "additionalProperties": _NUM},
        "contribution_method": {"enum": ["linear-exact", "tree-shap", "sampling-shapley"]},
        "contribution_scale": {"enum": ["log-odds", "score", "probability"]},
        "contribution_baseline": _NUM,
        "contribution_se": _NAMED_NUMBERS,
        "recourse": {"type": ["object", "null"]},
        "recourse_method": {"enum": ["linear-exact", "search", "none"]},
        "recourse_cost": _NUM,
        "recourse_score": _NUM,
        "recourse_note": {"type": "string"},
        "group_context": {"type": "object"},
    },
}


def plain_value(value: Any) -> Any:
    """Return the Python scalar a numpy scalar holds; anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def jsonable(value: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, ``nan``/``inf`` to ``None``."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if value is None or isinstance(value, str | int):
        return value
    return str(value)  # dates, decimals and other objects: their text form


@dataclass(frozen=True)
class DecisionRecord:
    """Everything needed to account for one automated decision.

    Attributes
    ----------
    row_id : int or str
        Position of the row in the input (or its value in ``id_column``).
    task : {"classification", "regression"}
        What the model does.
    model_id : dict
        ``class``, ``params_sha256`` (hyper-parameters), ``fitted_sha256`` (the fitted
        object), ``calibration_sha256`` (fingerprint of the calibration data) and
        ``calibration_rows``.
    raw_inputs : dict
        The row's features as given.
    inputs : dict
        The inputs exactly as the model's final estimator saw them (after a
        ``Pipeline``'s preprocessing; equal to ``raw_inputs`` otherwise).
    group, sensitive : str, dict
        The person's sensitive group label and the values that define it.
    score, decision, threshold : float, int, float
        ``decision = 1`` if ``score >= threshold`` else ``0``. The score is the positive
        class probability (classification) or the prediction (regression).
    label : object
        The class label the decision stands for (classification), else ``None``.
    prediction_set : list or None
        Classification: the labels the conformal set contains.
    interval : list of two floats or None
        Regression: the conformal interval ``[lower, upper]`` (``None`` bound = infinite).
    coverage : float
        The guaranteed coverage ``1 - alpha`` within the person's group.
    calibration_group_size : int
        Calibration rows of the person's group behind that guarantee.
    guarantee : str
        The guarantee in words.
    contributions : dict
        Input name to contribution; they add up to ``score_on_scale - baseline``.
    contribution_method, contribution_scale, contribution_baseline : str, str, float
        How they were computed, on which scale (``log-odds``, ``score`` or
        ``probability``), and the baseline (mean over the calibration background).
    contribution_se : dict or None
        Monte Carlo standard error per input (sampling method only).
    recourse : dict or None
        Feature to new value for the changed features, or ``None`` if none exists.
    recourse_method, recourse_cost, recourse_score, recourse_note
        ``linear-exact``/``search``/``none``; the cost in scale units; the score the
        model gave the changed row (the verification); a sentence in plain language.
    group_context : dict
        How the model errs for the person's group (rates with confidence intervals,
        relative to the other groups), from the calibration data.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from evenhand.explain import DecisionExplainer, DecisionRecord
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=(400, 2))
    >>> y = (x[:, 0] + rng.normal(size=400) > 0).astype(int)
    >>> model = LogisticRegression().fit(x[:200], y[:200])
    >>> cal = {"a": x[200:, 0], "b": x[200:, 1], "g": rng.choice(["u", "v"], 200), "y": y[200:]}
    >>> explainer = DecisionExplainer(model, calibration_data=cal, y_true="y", sensitive="g",
    ...                               features=["a", "b"], seed=0)
    >>> record = explainer.explain({"a": 0.3, "b": -1.0, "g": "u"})[0]
    >>> record.to_dict()["schema"], record.contribution_method, record.coverage
    ('evenhand.decision/1', 'linear-exact', 0.9)
    >>> DecisionRecord.from_dict(record.to_dict()) == DecisionRecord.from_dict(record.to_dict())
    True
    """

    row_id: int | str
    task: str
    model_id: dict[str, Any]
    raw_inputs: dict[str, Any]
    inputs: dict[str, float]
    group: str
    sensitive: dict[str, Any]
    score: float
    decision: int
    label: Any
    threshold: float
    prediction_set: list[Any] | None
    interval: list[float | None] | None
    coverage: float
    calibration_group_size: int
    guarantee: str
    contributions: dict[str, float]
    contribution_method: str
    contribution_scale: str
    contribution_baseline: float
    contribution_se: dict[str, float] | None
    recourse: dict[str, Any] | None
    recourse_method: str
    recourse_cost: float | None
    recourse_score: float | None
    recourse_note: str
    group_context: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict following schema ``evenhand.decision/1`` (see ``DECISION_SCHEMA``).

        Non-finite numbers become ``None`` (JSON has no ``NaN``).
        """
        return {"schema": SCHEMA_ID, **jsonable(asdict(self))}

    def to_json(self, **kwargs: Any) -> str:
        """Return the record as a JSON string (``kwargs`` go to :func:`json.dumps`)."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecisionRecord:
        """Rebuild a record from :meth:`to_dict` output (the ``schema`` key is checked)."""
        from evenhand._core._errors import EvenhandError

        if data.get("schema") != SCHEMA_ID:
            raise EvenhandError(
                f"Expected a record with schema {SCHEMA_ID!r}; got {data.get('schema')!r}."
            )
        return cls(**{f.name: data[f.name] for f in fields(cls)})

    def to_html(self) -> str:
        """Render a one-page HTML card in plain language (self-contained, prints on one page)."""
        from evenhand.explain._card import render_cards

        return render_cards([self])
