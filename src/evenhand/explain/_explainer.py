"""``DecisionExplainer``: calibrate once, then account for each decision."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evenhand._core._errors import EvenhandError, did_you_mean
from evenhand._core._frame import as_column_list, check_column_arguments, collect_numpy, from_any
from evenhand.explain import _attributions as attr
from evenhand.explain._conformal import GroupConformal
from evenhand.explain._context import classification_context, record_context, regression_context
from evenhand.explain._model import ModelAdapter, fingerprint_arrays, model_identity
from evenhand.explain._record import DecisionRecord, plain_value
from evenhand.explain._recourse_rows import RecourseRows

__all__ = ["DecisionExplainer"]

class DecisionExplainer(RecourseRows):
    """Decision records with group-valid confidence, contributions and recourse.

    Calibrates once on held-out ``calibration_data`` (rows the model was *not* trained
    on), then :meth:`explain` returns one :class:`DecisionRecord` per row.

    Parameters
    ----------
    model : fitted estimator
        A binary scikit-learn classifier with ``predict_proba`` or a regressor,
        possibly a ``Pipeline``.
    calibration_data : DataFrame-like
        Held-out rows with the features, the outcome and the sensitive columns
        (pandas, polars, pyarrow, DuckDB, Spark or a dict of arrays).
    y_true : str or array-like
        Outcome column of ``calibration_data`` (or the outcomes themselves).
    sensitive : str or list of str
        Sensitive column(s); their combination defines the groups. Rows to explain must
        carry them too. They are never changed by recourse.
    features : list of str, optional
        Raw feature columns in model order. Default: ``model.feature_names_in_``, else
        every calibration column except ``y_true`` and ``sensitive``.
    threshold : float, default 0.5
        ``decision = 1`` iff ``score >= threshold``.
    actionable : list of str, optional
        Features recourse may change. Default: every numeric feature not immutable.
    immutable : list of str, optional
        Features recourse must never change (the sensitive columns always are).
    bounds : dict, optional
        ``feature -> (low, high)`` for new values (``None`` for open). Default: the range
        seen in the calibration data.
    monotone : dict, optional
        ``feature -> "increase" | "decrease"``: the only direction it may move.
    alpha : float, default 0.1
        Conformal miscoverage: sets/intervals cover with probability ``>= 1 - alpha``
        in every group.
    seed : int or None, default 0
        Seed of the background sample, sampled Shapley values and the recourse search.
        The default, 0, makes repeated calls give identical results; pass ``seed=None``
        explicitly for fresh randomness on every call.
    n_permutations : int, default 256
        Permutations per row for sampled Shapley values (standard error shrinks as
        ``1 / sqrt(n_permutations)``).
    background_size : int, default 100
        Calibration rows used as the Shapley baseline distribution.

    Attributes
    ----------
    conformal_ : GroupConformal
        The fitted group-conditional conformal predictor.
    contribution_method_ : str
        ``"linear-exact"``, ``"tree-shap"`` or ``"sampling-shapley"``.
    recourse_method_ : str
        ``"linear-exact"`` (the model is linear in the raw actionable features) or
        ``"search"``.
    model_id_ : dict
        Class, parameter hash, fitted-model hash and calibration fingerprint.

    Notes
    -----
    Contributions are interventional Shapley values over the final estimator's inputs
    (``DecisionRecord.inputs``) against a background of calibration rows; for a
    linear/logistic model they are exact, ``coef_j * (z_j - mean_j)`` (log-odds for
    logistic). Recourse works on the raw features; see ``evenhand.explain._recourse``
    for the cost and the exactness argument. The fairness figures in ``group_context``
    come from the calibration data at ``threshold``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from evenhand.explain import DecisionExplainer
    >>> rng = np.random.default_rng(0)
    >>> n = 600
    >>> data = {"income": rng.normal(50, 10, n), "debt": rng.normal(10, 3, n),
    ...         "group": rng.choice(["a", "b"], n)}
    >>> data["repaid"] = (data["income"] / 10 - data["debt"] / 3 + rng.normal(0, 1, n) > 2)
    >>> X = np.column_stack([data["income"], data["debt"]])
    >>> model = LogisticRegression().fit(X[:300], data["repaid"][:300])
    >>> cal = {k: v[300:] for k, v in data.items()}
    >>> ex = DecisionExplainer(model, calibration_data=cal, y_true="repaid",
    ...                        sensitive="group", features=["income", "debt"], seed=0)
    >>> record = ex.explain({"income": 40.0, "debt": 14.0, "group": "a"})[0]
    >>> record.decision, record.recourse is not None
    (0, True)
    >>> round(sum(record.contributions.values()) + record.contribution_baseline, 6) == round(
    ...     float(np.log(record.score / (1 - record.score))), 6)
    True
    """

    def __init__(
        self,
        model: Any,
        *,
        calibration_data: Any,
        y_true: str | Sequence[Any],
        sensitive: str | Sequence[str],
        features: Sequence[str] | None = None,
        threshold: float = 0.5,
        actionable: Sequence[str] | None = None,
        immutable: Sequence[str] | None = None,
        bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
        monotone: Mapping[str, str] | None = None,
        alpha: float = 0.1,
        seed: int | None = 0,
        n_permutations: int = 256,
        background_size: int = 100,
    ) -> None:
        self.model = model
        self.y_true = y_true
        self.sensitive = sensitive
        self.features = features
        self.threshold = threshold
        self.actionable = actionable
        self.immutable = immutable
        self.bounds = bounds
        self.monotone = monotone
        self.alpha = alpha
        self.seed = seed
        self.n_permutations = n_permutations
        self.background_size = background_size
        self._fit(calibration_data)

    # -- calibration ---------------------------------------------------------------------
    def _fit(self, data: Any) -> None:
        self._check_params()
        check_column_arguments("DecisionExplainer", {}, {
            "sensitive": self.sensitive, "features": self.features,
        })
        self.sensitive_ = as_column_list(self.sensitive, "sensitive")
        if not self.sensitive_:
            raise EvenhandError("The 'sensitive' argument must name at least one column.")
        self.features_ = self._resolve_features(data)
        self._check_fitted()
        self._adapter = ModelAdapter(self.model, self.features_)
        cols, y = self._calibration_columns(data)
        groups = self._group_labels(cols)
        scores = self._adapter.score(cols)
        self.task_ = self._adapter.task
        y_fit = self._encode_y(y) if self.task_ == "classification" else self._float_y(y)
        preds = np.column_stack([1 - scores, scores]) if self.task_ == "classification" else scores
        self.conformal_ = GroupConformal(self.alpha, self.task_).fit(preds, y_fit, groups)
        codes = self.conformal_.group_codes(groups)
        if self.task_ == "classification":
            decision = (scores >= self.threshold).astype(int)
            self._context = classification_context(
                y_fit, decision, codes, len(self.conformal_.groups_)
            )
        else:
            self._context = regression_context(y_fit, scores, codes, len(self.conformal_.groups_))
        self._fit_attributions(cols)
        self._fit_recourse(cols)
        self.model_id_ = model_identity(self.model) | {
            "calibration_sha256": fingerprint_arrays({**cols, "__y__": y}),
            "calibration_rows": len(y),
        }

    def _check_params(self) -> None:
        if not (isinstance(self.threshold, int | float) and math.isfinite(self.threshold)):
            raise EvenhandError(
                f"The 'threshold' parameter must be a finite number; got {self.threshold!r}."
            )
        if not (isinstance(self.alpha, int | float) and 0 < self.alpha < 1):
            raise EvenhandError(
                f"The 'alpha' parameter must be a number in (0, 1); got {self.alpha!r}. "
                "Use e.g. alpha=0.1 for 90% coverage."
            )
        for name in ("n_permutations", "background_size"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 2):
                raise EvenhandError(
                    f"The {name!r} parameter must be an integer >= 2; got {value!r}."
                )

    def _check_fitted(self) -> None:
        from sklearn.exceptions import NotFittedError
        from sklearn.utils.validation import check_is_fitted

        try:
            check_is_fitted(self.model)
        except NotFittedError as exc:
            raise EvenhandError(
                f"The model {type(self.model).__name__} is not fitted; fit it before explaining "
                "its decisions."
            ) from exc
        except TypeError as exc:
            raise EvenhandError(
                f"model must be a fitted scikit-learn estimator; got {type(self.model).__name__!r}."
            ) from exc
        if not hasattr(self.model, "predict"):
            raise EvenhandError(
                f"model must have a predict method; got {type(self.model).__name__!r}."
            )

    def _resolve_features(self, data: Any) -> list[str]:
        if self.features is not None:
            return as_column_list(self.features, "features")
        names = getattr(self.model, "feature_names_in_", None)
        if names is not None:
            return [str(n) for n in names]
        exclude = {*self.sensitive_, *([self.y_true] if isinstance(self.y_true, str) else [])}
        columns = [c for c in from_any(data).collect_schema().names() if c not in exclude]
        width = getattr(self.model, "n_features_in_", len(columns))
        if width != len(columns):
            raise EvenhandError(
                f"The model takes {width} features but calibration_data has {len(columns)} "
                f"other columns ({columns[:10]!r}); pass features=[...] in the model's order."
            )
        return columns

    def _calibration_columns(self, data: Any) -> tuple[dict[str, np.ndarray], np.ndarray]:
        wanted = list(dict.fromkeys([*self.features_, *self.sensitive_]))
        if isinstance(self.y_true, str):
            cols = collect_numpy(data, list(dict.fromkeys([*wanted, self.y_true])))
            y = cols.pop(self.y_true) if self.y_true not in wanted else cols[self.y_true]
        else:
            cols = collect_numpy(data, wanted)
            y = np.asarray(self.y_true)
            if y.shape != (len(next(iter(cols.values()))),):
                raise EvenhandError(
                    f"y_true has shape {y.shape} but calibration_data has "
                    f"{len(next(iter(cols.values())))} rows; pass one outcome per row."
                )
        if len(y) == 0:
            raise EvenhandError("calibration_data has no rows; pass held-out labelled rows.")
        return cols, y

    def _float_y(self, y: np.ndarray) -> np.ndarray:
        try:
            out = np.asarray(y, dtype=float)
        except (TypeError, ValueError) as exc:
            raise EvenhandError(
                f"y_true must be numeric for a regressor; got values like {y[:3].tolist()!r}."
            ) from exc
        if not np.isfinite(out).all():
            raise EvenhandError(
                f"y_true has {int((~np.isfinite(out)).sum())} missing or infinite values; "
                "drop those calibration rows."
            )
        return out

    def _encode_y(self, y: np.ndarray) -> np.ndarray:
        classes = self._adapter.classes
        positive = y == classes[1]
        known = positive | (y == classes[0])
        if not known.all():
            bad = sorted({str(v) for v in y[~known]})[:5]
            raise EvenhandError(
                f"y_true holds values {bad!r} that are not the model's classes "
                f"{classes.tolist()!r}; encode the outcome as the model was trained."
            )
        return positive.astype(np.intp)

    def _group_labels(self, cols: Mapping[str, np.ndarray]) -> np.ndarray:
        parts = [np.asarray(cols[c]).astype(str) for c in self.sensitive_]
        if any(np.any(p == "None") | np.any(p == "nan") for p in parts):
            raise EvenhandError(
                f"A sensitive column {self.sensitive_!r} has missing values; give every row a "
                "group (e.g. an explicit 'unknown' category)."
            )
        if len(parts) == 1:
            return parts[0]
        labelled = [np.char.add(f"{c}=", p) for c, p in zip(self.sensitive_, parts, strict=True)]
        out = labelled[0]
        for part in labelled[1:]:
            out = np.char.add(np.char.add(out, ", "), part)
        return out

    def _fit_attributions(self, cols: Mapping[str, np.ndarray]) -> None:
        z = self._adapter.model_inputs(cols)
        rng = np.random.default_rng(self.seed)
        take = rng.choice(len(z), size=min(self.background_size, len(z)), replace=False)
        self._background = z[np.sort(take)]
        self._z_mean = z.mean(axis=0)
        self.input_names_ = self._adapter.input_names()
        if len(self.input_names_) != z.shape[1]:
            self.input_names_ = [f"x{i}" for i in range(z.shape[1])]
        self._linear = self._adapter.linear_parts(z[: min(len(z), 256)])
        if self._linear is not None:
            self.contribution_method_ = "linear-exact"
        elif attr.is_tree_model(self._adapter.final) and attr.shap_available():
            self.contribution_method_ = "tree-shap"
        else:
            self.contribution_method_ = "sampling-shapley"

    # -- recourse space -------------------------------------------------------------------
    # -- explaining ---------------------------------------------------------------------
    def explain(self, rows: Any, *, id_column: str | None = None) -> list[DecisionRecord]:
        """One :class:`DecisionRecord` per row of ``rows``.

        Parameters
        ----------
        rows : DataFrame-like or dict
            Rows with the model's features and the sensitive columns (a dict of scalars
            is one row).
        id_column : str, optional
            Column whose value becomes each record's ``row_id`` (default: position).

        Returns
        -------
        list of DecisionRecord
            In row order. With a ``seed``, the same rows give the same records whatever
            was explained before (each call starts a fresh generator from the seed).
        """
        cols, ids = self._row_columns(rows, id_column)
        if len(ids) == 0:
            return []
        rng = np.random.default_rng(self.seed)
        groups = self._group_labels(cols)
        codes = self.conformal_.group_codes(groups)
        scores = self._adapter.score(cols)
        decisions = (scores >= self.threshold).astype(int)
        z = self._adapter.model_inputs(cols)
        phi, se, baseline, scale = self._contributions(z, rng)
        sets = self._confidence(scores, groups)
        mat = self._numeric_matrix(cols, self._numeric)
        if self._slopes is not None:
            recourses = self._linear_recourses(cols, mat, decisions)
        else:
            recourses = [self._recourse(cols, mat, i, d, rng) for i, d in enumerate(decisions)]
        return [
            self._record(i, ids, cols, z, groups, codes, scores, decisions, sets,
                         (phi, se, baseline, scale), recourses[i])
            for i in range(len(scores))
        ]

    def _row_columns(
        self, rows: Any, id_column: str | None
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        if isinstance(rows, Mapping) and all(np.ndim(v) == 0 for v in rows.values()):
            rows = {k: [v] for k, v in rows.items()}
        frame = from_any(rows)
        present = frame.collect_schema().names()
        needed = list(dict.fromkeys([*self.features_, *self.sensitive_]))
        missing = [c for c in needed if c not in present]
        if missing:
            raise EvenhandError(
                f"The rows to explain lack column(s) {missing!r} that the model or the grouping "
                f"needs (features {self.features_[:20]!r}, sensitive {self.sensitive_!r}); "
                "add them." + did_you_mean(missing[0], present)
            )
        wanted = needed + ([id_column] if id_column and id_column not in needed else [])
        cols = collect_numpy(frame, wanted)
        n = len(next(iter(cols.values())))
        ids = np.asarray(cols[id_column]) if id_column else np.arange(n)
        return cols, ids

    def _contributions(
        self, z: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, str]:
        n = len(z)
        linear = self._linear
        if self.contribution_method_ == "linear-exact":
            assert linear is not None  # the method is "linear-exact" only for a verified model
            coef, b, scale = linear
            phi = attr.linear_contributions(z, coef, self._z_mean)
            return phi, None, np.full(n, float(coef @ self._z_mean + b)), scale
        scale = "probability" if self.task_ == "classification" else "score"
        if self.contribution_method_ == "tree-shap":
            phi, base_value = attr.tree_shap(
                self._adapter.final, z, self._background, classifier=self.task_ == "classification"
            )
            return phi, None, np.full(n, base_value), scale
        phi, se, base = attr.sampling_shapley(
            self._adapter.final_score, z, self._background,
            n_permutations=self.n_permutations, rng=rng,
        )
        return phi, se, base, scale

    def _confidence(self, scores: np.ndarray, groups: np.ndarray) -> Any:
        if self.task_ == "classification":
            return self.conformal_.predict(np.column_stack([1 - scores, scores]), groups)
        return self.conformal_.predict(scores, groups)

    def _record(
        self, i: int, ids: np.ndarray, cols: Mapping[str, np.ndarray], z: np.ndarray,
        groups: np.ndarray, codes: np.ndarray, scores: np.ndarray, decisions: np.ndarray,
        sets: Any, contrib: tuple[Any, Any, np.ndarray, str],
        recourse: tuple[np.ndarray | None, float | None],
    ) -> DecisionRecord:
        phi, se, baseline, scale = contrib
        code = int(codes[i])
        classification = self.task_ == "classification"
        classes = self._adapter.classes if classification else None
        change, note, cost = self._describe_recourse(cols, i, recourse[0], recourse[1])
        return DecisionRecord(
            row_id=ids[i].item() if hasattr(ids[i], "item") else ids[i],
            task=self.task_,
            model_id=dict(self.model_id_),
            raw_inputs={f: plain_value(cols[f][i]) for f in self.features_},
            inputs=dict(zip(self.input_names_, z[i].tolist(), strict=True)),
            group=str(groups[i]),
            sensitive={c: plain_value(cols[c][i]) for c in self.sensitive_},
            score=float(scores[i]),
            decision=int(decisions[i]),
            label=plain_value(classes[decisions[i]]) if classes is not None else None,
            threshold=float(self.threshold),
            prediction_set=[
                plain_value(c) for c, keep in zip(classes, sets[i], strict=True) if keep
            ] if classes is not None else None,
            interval=None if classification else [float(sets[0][i]), float(sets[1][i])],
            coverage=1.0 - float(self.alpha),
            calibration_group_size=int(self.conformal_.counts_[code]),
            guarantee=self.conformal_.guarantee(str(groups[i])),
            contributions=dict(zip(self.input_names_, phi[i].tolist(), strict=True)),
            contribution_method=self.contribution_method_,
            contribution_scale=scale,
            contribution_baseline=float(baseline[i]),
            contribution_se=None if se is None
            else dict(zip(self.input_names_, se[i].tolist(), strict=True)),
            recourse=change,
            recourse_method=self.recourse_method_ if change is not None else "none",
            recourse_cost=cost,
            recourse_score=recourse[1],
            recourse_note=note,
            group_context=record_context(self._context, self.conformal_.groups_, code),
        )
