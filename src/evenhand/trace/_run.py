"""Running the preparation steps and checking their row ids.

Every frame a step sees or returns is read through narwhals and compared as a polars
frame; the user's frames are never modified (pandas frames are copied before a callable
step receives them; polars and Arrow frames are immutable).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import narwhals.stable.v2 as nw
import polars as pl

from evenhand._core._errors import EvenhandError
from evenhand._core._frame import from_any, native_library, require_columns

__all__ = ["run_steps", "to_polars", "validate_raw"]


def to_polars(data: Any, argument: str) -> pl.DataFrame:
    """Return ``data`` (any frame evenhand reads) as an eager polars DataFrame."""
    frame = from_any(data)
    if isinstance(frame, nw.LazyFrame):
        frame = frame.collect(backend="polars")
    try:
        return frame.to_polars()
    except Exception as exc:  # pragma: no cover - depends on the optional engine
        raise EvenhandError(
            f"{argument} could not be read as a table ({exc}). Pass a pandas or polars frame."
        ) from exc


def validate_raw(raw: pl.DataFrame, id_column: str, sensitive: Sequence[str]) -> None:
    """Raise :class:`EvenhandError` for a missing column, null or duplicate ids or groups."""
    if not isinstance(id_column, str):
        raise EvenhandError(f"id_column must be one column name; got {id_column!r}.")
    require_columns(nw.from_native(raw), {"id_column": [id_column], "sensitive": list(sensitive)})
    ids = raw.get_column(id_column)
    if ids.null_count():
        raise EvenhandError(
            f"The id column {id_column!r} of raw has {ids.null_count()} null value(s). Give "
            "every row a unique id (e.g. add a row number before the first step)."
        )
    duplicated = raw.height - ids.n_unique()
    if duplicated:
        raise EvenhandError(
            f"The id column {id_column!r} of raw has {duplicated} duplicate id(s), so rows "
            "cannot be followed through the steps. Give every row a unique id (e.g. add a "
            "row number before the first step)."
        )
    for col in sensitive:
        if raw.get_column(col).null_count():
            raise EvenhandError(
                f"Sensitive column {col!r} of raw has missing values. Fill them with a value "
                "of their own (e.g. 'missing') so those rows form a group."
            )


def run_steps(
    raw: Any, steps: Sequence[tuple[str, Any]], id_column: str, raw_ids: pl.Series
) -> list[tuple[str, pl.DataFrame]]:
    """Apply or read each step in order; return ``(name, frame after the step)`` pairs.

    A callable step receives a copy of the previous step's frame in the caller's library; a
    frame step is taken as the data after that step. Ids absent from ``raw`` are an error.
    """
    if isinstance(steps, str | bytes) or not isinstance(steps, Sequence):
        raise EvenhandError("steps must be a list of (name, step) pairs.")
    library = native_library(raw)
    current: Any = raw
    out: list[tuple[str, pl.DataFrame]] = []
    seen: set[str] = set()
    for entry in steps:
        name, step = _unpack(entry, seen)
        current = _apply(step, current, library, name) if callable(step) else step
        frame = to_polars(current, f"The output of step {name!r}")
        _check_ids(frame, name, id_column, raw_ids)
        out.append((name, frame))
    return out


def _unpack(entry: Any, seen: set[str]) -> tuple[str, Any]:
    if not (isinstance(entry, tuple | list) and len(entry) == 2 and isinstance(entry[0], str)):
        raise EvenhandError(
            f"Each step must be a (name, step) pair with a string name; got {entry!r}."
        )
    if entry[0] in seen:
        raise EvenhandError(f"Two steps are named {entry[0]!r}; give every step its own name.")
    seen.add(entry[0])
    return entry[0], entry[1]


def _apply(step: Callable[[Any], Any], current: Any, library: str, name: str) -> Any:
    given = current.copy(deep=True) if library == "pandas" and hasattr(current, "copy") else current
    result = step(given)
    if result is None:
        raise EvenhandError(
            f"Step {name!r} returned None. A callable step must return the frame after the "
            "step (e.g. `lambda df: df[df.x > 0]`), not modify its input in place."
        )
    return result


def _check_ids(frame: pl.DataFrame, name: str, id_column: str, raw_ids: pl.Series) -> None:
    if id_column not in frame.columns:
        raise EvenhandError(
            f"The data after step {name!r} has no id column {id_column!r}. Keep the row-id "
            "column through every step so rows can be followed."
        )
    ids = frame.get_column(id_column)
    unknown = ids.filter(~ids.is_in(raw_ids.implode()) | ids.is_null())
    if unknown.len():
        raise EvenhandError(
            f"The data after step {name!r} has {unknown.len()} row(s) whose id is not in raw "
            f"(e.g. {unknown.head(3).to_list()}); the prepared ids must be a subset of the raw "
            "ids. Keep the raw ids (do not reset the index or renumber rows)."
        )
