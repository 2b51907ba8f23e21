"""Parsing trusted input ranges into per-row feature domains.

A range says how far each input may be from its recorded value:

- a number ``d >= 0``: the closed interval ``[x - d, x + d]``;
- a string ``"p%"``: the closed interval ``[x - p/100 |x|, x + p/100 |x|]``;
- a list, tuple or set of values: the recorded value or any of these alternatives;
- ``"any"``: any value observed in the column;
- a dict ``{"delta": d or "p%", "min": lo, "max": hi}``: the interval of ``delta`` clipped
  to ``[min, max]`` (either bound optional), for values that cannot leave a range — a count
  cannot go below 0. The recorded value always stays in its box.

Missing recorded values stay missing (the range does not apply to them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from evenhand._core._errors import EvenhandError, did_you_mean

__all__ = ["Domain", "parse_ranges"]

RANGE_HELP = (
    'a number d (x ± d), a percentage string such as "10%", a list of alternative values, '
    '"any", or {"delta": d, "min": lo, "max": hi}'
)
_CLIP_KEYS = {"delta", "min", "max"}


@dataclass(frozen=True)
class Domain:
    """The values one feature may take in each row's box.

    ``kind == "interval"``: row ``i`` may take any value in ``[lo[i], hi[i]]``.
    ``kind == "set"``: row ``i`` may take ``values[k]`` where ``mask[i, k]`` (every value
    when ``mask`` is ``None``); ``lo``/``hi`` then hold the smallest/largest allowed value
    for numeric sets and ``nan`` otherwise.
    """

    name: str
    kind: str
    x: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    spec: Any
    values: np.ndarray | None = None
    mask: np.ndarray | None = None

    @property
    def numeric(self) -> bool:
        """Whether the feature's values are numbers."""
        return _is_numeric(self.x)

    def take(self, rows: np.ndarray) -> Domain:
        """Return the domain restricted to ``rows``."""
        mask = None if self.mask is None else self.mask[rows]
        return replace(self, x=self.x[rows], lo=self.lo[rows], hi=self.hi[rows], mask=mask)

    def set_values(self) -> np.ndarray:
        """Return the ``k`` values a set domain draws from (sets only)."""
        assert self.values is not None  # every "set" domain lists its values
        return self.values

    def allowed(self) -> np.ndarray:
        """Return the ``(n, k)`` boolean matrix of allowed set values (sets only)."""
        values = self.set_values()
        if self.mask is None:
            return np.ones((self.x.shape[0], values.shape[0]), dtype=bool)
        return self.mask


def _is_numeric(a: np.ndarray) -> bool:
    return a.dtype.kind in "iuf"


def _missing(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "f":
        return np.isnan(a)
    if a.dtype.kind == "O":
        return np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in a])
    return np.zeros(a.shape[0], dtype=bool)


def _interval(name: str, x: np.ndarray, spec: Any, width: np.ndarray) -> Domain:
    xf = x.astype(float)
    return Domain(name, "interval", x, xf - width, xf + width, spec)


def _numeric_set_bounds(values: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not _is_numeric(values):
        nan = np.full(allowed.shape[0], np.nan)
        return nan, nan
    v = values.astype(float)
    lo = np.where(allowed, v[None, :], np.inf).min(axis=1)
    hi = np.where(allowed, v[None, :], -np.inf).max(axis=1)
    return lo, hi


def _set_domain(name: str, x: np.ndarray, spec: Any, alternatives: Sequence[Any] | None) -> Domain:
    present = x[~_missing(x)]
    if alternatives is None:
        values = np.unique(present)
        mask = None
        allowed = np.ones((x.shape[0], values.shape[0]), dtype=bool)
    else:
        alt = np.asarray(list(alternatives), dtype=None if _is_numeric(x) else object)
        values = np.unique(np.concatenate([present, alt]))
        allowed = np.isin(values, alt)[None, :] | (values[None, :] == x[:, None])
        mask = allowed
    lo, hi = _numeric_set_bounds(values, allowed)
    missing = _missing(x)
    if missing.any():  # a missing value stays missing: only itself is allowed
        allowed = allowed.copy()
        allowed[missing] = False
        mask = allowed
        lo, hi = _numeric_set_bounds(values, allowed)
        lo[missing] = hi[missing] = np.nan
    return Domain(name, "set", x, lo, hi, spec, values=values, mask=mask)


def _clipped(name: str, x: np.ndarray, spec: Mapping) -> Domain:
    """Return an interval range clipped to ``[min, max]``; the recorded value stays in."""
    unknown = set(spec) - _CLIP_KEYS
    bounds = [spec.get("min", -np.inf), spec.get("max", np.inf)]
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in bounds)
    if unknown or "delta" not in spec or not numbers or bounds[0] > bounds[1]:
        raise EvenhandError(
            f"ranges[{name!r}] got {dict(spec)!r}; a dict range needs 'delta' (a number or "
            "a percentage) and optional numbers 'min' <= 'max', e.g. "
            '{"delta": 1, "min": 0}.'
        )
    inner = _parse_one(name, x, spec["delta"])
    if inner.kind != "interval":
        raise EvenhandError(
            f"ranges[{name!r}]['delta'] got {spec['delta']!r}; use a number or a percentage."
        )
    xf = x.astype(float)
    lo = np.minimum(np.maximum(inner.lo, float(bounds[0])), xf)
    hi = np.maximum(np.minimum(inner.hi, float(bounds[1])), xf)
    return replace(inner, lo=lo, hi=hi, spec=dict(spec))


def _parse_one(name: str, x: np.ndarray, spec: Any) -> Domain:
    numeric = _is_numeric(x)
    if isinstance(spec, Mapping):
        return _clipped(name, x, spec)
    if isinstance(spec, str):
        text = spec.strip()
        if text == "any":
            return _set_domain(name, x, spec, None)
        if text.endswith("%"):
            try:
                share = float(text[:-1]) / 100.0
            except ValueError:
                share = -1.0
            if not share >= 0 or not numeric:
                raise EvenhandError(_bad(name, spec, numeric))
            return _interval(name, x, spec, share * np.abs(x.astype(float)))
        raise EvenhandError(_bad(name, spec, numeric))
    if isinstance(spec, bool):
        raise EvenhandError(_bad(name, spec, numeric))
    if isinstance(spec, int | float | np.integer | np.floating):
        if not numeric or not float(spec) >= 0 or not np.isfinite(float(spec)):
            raise EvenhandError(_bad(name, spec, numeric))
        return _interval(name, x, spec, np.full(x.shape[0], float(spec)))
    if isinstance(spec, list | tuple | set | frozenset | np.ndarray):
        alternatives = list(spec)
        if numeric and not all(isinstance(v, int | float | np.number) for v in alternatives):
            raise EvenhandError(
                f"ranges[{name!r}] lists alternatives {spec!r} for a numeric column; "
                "list numbers only."
            )
        return _set_domain(name, x, spec, alternatives)
    raise EvenhandError(_bad(name, spec, numeric))


def _bad(name: str, spec: Any, numeric: bool) -> str:
    kind = "numeric" if numeric else "non-numeric"
    hint = RANGE_HELP if numeric else 'a list of alternative values or "any"'
    return f"ranges[{name!r}] got {spec!r}, which cannot be used for the {kind} column; use {hint}."


def parse_ranges(
    ranges: Mapping[str, Any], columns: Mapping[str, np.ndarray], features: Sequence[str]
) -> dict[str, Domain]:
    """Turn the user's ``ranges`` mapping into a :class:`Domain` per named feature.

    Raises
    ------
    EvenhandError
        If ``ranges`` is not a non-empty mapping, names a column the model does not use,
        or gives a range its column cannot take.
    """
    if not isinstance(ranges, Mapping) or not ranges:
        raise EvenhandError(
            f"ranges must be a non-empty mapping of feature name to range; got {ranges!r}. "
            f'For example ranges={{"priors_count": 1, "age": 1}}.'
        )
    out: dict[str, Domain] = {}
    for name, spec in ranges.items():
        if name not in features:
            raise EvenhandError(
                f"ranges names {name!r}, which is not one of the model's features "
                f"{list(features)[:20]}." + did_you_mean(name, features)
            )
        out[name] = _parse_one(name, np.asarray(columns[name]), spec)
    return out
