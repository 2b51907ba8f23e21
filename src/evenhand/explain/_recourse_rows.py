"""Recourse for the explainer's rows: the allowed changes, the search and the note.

``RecourseRows`` is the part of :class:`~evenhand.explain.DecisionExplainer` that builds
the :class:`~evenhand.explain._recourse.RecourseSpace` from the calibration data (which
features move, their bounds, directions and cost units), finds each row's recourse (exact
for a model linear in the raw actionable features, a seeded search otherwise), re-scores
every candidate with the model and describes the change in words. The algorithms
themselves live in ``evenhand.explain._recourse``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import logit

from evenhand._core._errors import EvenhandError, did_you_mean
from evenhand._core._frame import as_column_list
from evenhand.explain._model import ModelAdapter
from evenhand.explain._record import plain_value
from evenhand.explain._recourse import (
    NO_RECOURSE,
    RecourseSpace,
    linear_recourse,
    search_recourse,
)

__all__ = ["RecourseRows"]

_MONOTONE = {"increase": 1, "decrease": -1, "+": 1, "-": -1, 1: 1, -1: -1, "any": 0, 0: 0}


class RecourseRows:
    """Recourse methods of the explainer (a mixin; the explainer sets the attributes)."""

    features_: list[str]
    sensitive_: list[str]
    threshold: float
    actionable: Sequence[str] | None
    immutable: Sequence[str] | None
    bounds: Mapping[str, tuple[float | None, float | None]] | None
    monotone: Mapping[str, str] | None
    recourse_method_: str
    _adapter: ModelAdapter
    _linear: tuple[np.ndarray, float, str] | None
    _space: RecourseSpace
    _numeric: np.ndarray
    _slopes: np.ndarray | None

    def _fit_recourse(self, cols: Mapping[str, np.ndarray]) -> None:
        feats = self.features_
        numeric = np.array([np.asarray(cols[f]).dtype.kind in "biuf" for f in feats])
        immutable = set(self._names(self.immutable, "immutable")) | set(self.sensitive_)
        if self.actionable is None:
            act = [f for f, num in zip(feats, numeric, strict=True) if num and f not in immutable]
        else:
            act = self._names(self.actionable, "actionable")
            for f in act:
                if not numeric[feats.index(f)]:
                    raise EvenhandError(
                        f"Feature {f!r} (given as actionable) is not numeric; recourse changes "
                        "numeric features only. Remove it from actionable."
                    )
        actionable = np.array([f in act and f not in immutable for f in feats])
        mat = self._numeric_matrix(cols, numeric)
        lower, upper = self._bounds(mat, numeric)
        self._space = RecourseSpace(
            actionable=actionable,
            lower=lower,
            upper=upper,
            direction=self._directions(),
            scale=_robust_scale(mat),
            integer=np.array([np.asarray(cols[f]).dtype.kind in "biu" for f in feats]),
            span=_span(mat),
        )
        self._numeric = numeric
        linear = self._linear
        self._slopes = self._raw_slopes(cols, mat, linear[2]) if linear is not None else None
        self.recourse_method_ = "linear-exact" if self._slopes is not None else "search"

    def _names(self, value: Sequence[str] | Mapping[str, Any] | None, arg: str) -> list[str]:
        if isinstance(value, Mapping) or (isinstance(value, Sequence) and not value):
            names = [str(v) for v in value]  # mapping keys, or an empty list: nothing named
        else:
            names = as_column_list(value, arg)
        for name in names:
            if name not in self.features_:
                raise EvenhandError(
                    f"Feature {name!r} (given in {arg}) is not one of the model's features "
                    f"{self.features_[:20]!r}." + did_you_mean(name, self.features_)
                )
        return names

    def _numeric_matrix(self, cols: Mapping[str, np.ndarray], numeric: np.ndarray) -> np.ndarray:
        n = len(next(iter(cols.values())))
        return np.column_stack([
            np.asarray(cols[f], dtype=float) if num else np.full(n, np.nan)
            for f, num in zip(self.features_, numeric, strict=True)
        ])

    def _numeric_row(self, cols: Mapping[str, np.ndarray], i: int) -> np.ndarray:
        return self._numeric_matrix({f: np.asarray(cols[f])[i : i + 1] for f in self.features_},
                                    self._numeric)[0]

    def _bounds(self, mat: np.ndarray, numeric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(all="ignore"):
            lower = np.where(numeric, np.nanmin(np.where(numeric, mat, 0.0), axis=0), np.nan)
            upper = np.where(numeric, np.nanmax(np.where(numeric, mat, 0.0), axis=0), np.nan)
        for name, pair in (self.bounds or {}).items():
            self._names([name], "bounds")
            try:
                lo, hi = pair
            except (TypeError, ValueError) as exc:
                raise EvenhandError(
                    f"bounds[{name!r}] must be a (low, high) pair; got {pair!r}."
                ) from exc
            j = self.features_.index(name)
            lower[j] = -np.inf if lo is None else float(lo)
            upper[j] = np.inf if hi is None else float(hi)
            if lower[j] > upper[j]:
                raise EvenhandError(f"bounds[{name!r}] has low > high; got {pair!r}.")
        return lower, upper

    def _directions(self) -> np.ndarray:
        direction = np.zeros(len(self.features_), dtype=int)
        for name, how in (self.monotone or {}).items():
            self._names([name], "monotone")
            if how not in _MONOTONE:
                raise EvenhandError(
                    f"monotone[{name!r}] must be 'increase' or 'decrease'; got {how!r}."
                )
            direction[self.features_.index(name)] = _MONOTONE[how]
        return direction

    def _raw_slopes(
        self, cols: Mapping[str, np.ndarray], mat: np.ndarray, scale: str
    ) -> np.ndarray | None:
        """Slopes of the link score in each actionable raw feature, if it is affine in them.

        Finite differences at up to 16 calibration rows, at two step sizes, on the link
        ``scale`` of the verified linear final estimator; the model counts as linear for
        recourse only if every difference agrees (relative 1e-6).
        """
        space = self._space
        rows = np.arange(min(16, len(mat)))
        base = {f: np.asarray(cols[f])[rows] for f in self.features_}
        g0 = self._adapter.link_score(base, scale)
        slopes = np.zeros(len(self.features_))
        for j in np.flatnonzero(space.actionable):
            f, h = self.features_[j], space.scale[j]
            per_step = []
            for step in (h, 3 * h):
                moved = dict(base)
                moved[f] = mat[rows, j] + step
                per_step.append((self._adapter.link_score(moved, scale) - g0) / step)
            diffs = np.concatenate(per_step)
            if not np.allclose(diffs, diffs[0], rtol=1e-6, atol=1e-9 * max(1.0, abs(g0).max())):
                return None
            slopes[j] = diffs.mean()
        return slopes

    def _recourse(
        self, cols: Mapping[str, np.ndarray], mat: np.ndarray, i: int, decision: int,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray | None, float | None]:
        """Return ``(new raw values, verified score)``, or ``(None, None)`` if none flips."""
        x = mat[i]

        def flips(candidates: np.ndarray) -> np.ndarray:
            score = self._score_candidates(cols, i, candidates)
            return (score >= self.threshold).astype(int) != decision

        delta = search_recourse(x, flips, self._space, rng)
        if delta is None:
            return None, None
        new = self._snap(x, (x + delta)[None, :])[0]
        score = self._score_candidates(cols, i, new[None, :])
        if (score[0] >= self.threshold) == bool(decision):  # pragma: no cover - verified above
            return None, None
        return new, float(score[0])

    def _linear_recourses(
        self, cols: Mapping[str, np.ndarray], mat: np.ndarray, decisions: np.ndarray
    ) -> list[tuple[np.ndarray | None, float | None]]:
        """Exact recourse for every row; all rows are re-scored in one model call.

        The target is the threshold on the link scale (``logit(threshold)`` for a logistic
        model) plus a margin of 1e-9 relative; rows that floating point leaves on the
        boundary are retried with a margin 100 times wider (at most five times).
        """
        n = len(decisions)
        results: list[tuple[np.ndarray | None, float | None]] = [(None, None)] * n
        linear = self._linear
        assert linear is not None  # slopes, hence this path, exist only for a verified model
        scale = linear[2]
        if scale == "log-odds" and not 0 < self.threshold < 1:
            return results  # every score is on one side of the threshold
        target = float(logit(self.threshold)) if scale == "log-odds" else float(self.threshold)
        g0 = self._adapter.link_score(cols, scale)
        sign = np.where(decisions == 0, 1.0, -1.0)
        margin = 1e-9 * max(1.0, abs(target))
        pending = np.arange(n)
        for _ in range(5):
            found, values = [], []
            for i in pending:
                gap = sign[i] * (target - g0[i]) + margin
                delta = linear_recourse(mat[i], sign[i] * self._slopes, gap, self._space)
                if delta is not None:
                    found.append(i)
                    values.append(self._snap(mat[i], (mat[i] + delta)[None, :])[0])
            if not found:
                break
            idx = np.array(found)
            score = self._score_rows(cols, idx, np.vstack(values))
            flipped = (score >= self.threshold).astype(int) != decisions[idx]
            for k in np.flatnonzero(flipped):
                results[idx[k]] = (values[k], float(score[k]))
            pending = idx[~flipped]
            margin *= 100.0
        return results

    def _snap(self, x: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Clip changed values into their bounds and round integer features.

        ``x + (lo - x)`` may miss ``lo`` by one rounding; unchanged values stay exactly ``x``.
        """
        space = self._space
        new = np.clip(candidates, space.lower, space.upper)
        new = np.where(space.integer, np.rint(new), new)
        return np.where(candidates == x, x, new)

    def _score_candidates(
        self, cols: Mapping[str, np.ndarray], i: int, candidates: np.ndarray
    ) -> np.ndarray:
        """Scores of row ``i`` with its actionable features set to ``candidates``."""
        candidates = self._snap(self._numeric_row(cols, i), candidates)
        return self._score_rows(cols, np.full(len(candidates), i), candidates)

    def _score_rows(
        self, cols: Mapping[str, np.ndarray], rows: np.ndarray, values: np.ndarray
    ) -> np.ndarray:
        """Scores of ``rows`` with their actionable features replaced by ``values``."""
        moved = {}
        for j, f in enumerate(self.features_):
            col = np.asarray(cols[f])
            if not self._space.actionable[j]:
                moved[f] = col[rows]
            elif self._space.integer[j]:
                moved[f] = values[:, j].astype(col.dtype)
            else:
                moved[f] = values[:, j]
        return self._adapter.score(moved)

    def _describe_recourse(
        self, cols: Mapping[str, np.ndarray], i: int, values: np.ndarray | None,
        score: float | None,
    ) -> tuple[dict[str, Any] | None, str, float | None]:
        if values is None:
            return None, NO_RECOURSE, None
        x = self._numeric_row(cols, i)
        change = {}
        parts = []
        for j in np.flatnonzero((values != x) & ~np.isnan(x)):
            f = self.features_[j]
            old = plain_value(cols[f][i])
            new = round(values[j]) if self._space.integer[j] else float(values[j])
            change[f] = new
            parts.append(f"{f} from {_fmt(old)} to {_fmt(new)}")
        if not change:
            return None, NO_RECOURSE, None
        note = (
            f"Changing {_join(parts)} would change the decision (the model re-scored the "
            f"changed row at {score:.4g} against the threshold {self.threshold:g})."
        )
        return change, note, float(self._space.cost(values - x))


def _robust_scale(mat: np.ndarray) -> np.ndarray:
    """1.4826 × median absolute deviation per column; the std, then 1, where that is 0."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-nan (non-numeric) columns
        med = np.nanmedian(mat, axis=0)
        mad = 1.4826 * np.nanmedian(np.abs(mat - med), axis=0)
        std = np.nanstd(mat, axis=0)
    scale = np.where(np.isfinite(mad) & (mad > 0), mad, std)
    return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)


def _span(mat: np.ndarray) -> np.ndarray:
    """Calibration range per column (1 where it is empty or not finite)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-nan (non-numeric) columns
        span = np.nanmax(mat, axis=0) - np.nanmin(mat, axis=0)
    return np.where(np.isfinite(span) & (span > 0), span, 1.0)



def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
