"""Shared input handling of the compliance analyses: columns, binary outcomes, counts."""

from __future__ import annotations

from typing import Any

import numpy as np

from evenhand._core._errors import EvenhandError
from evenhand._core._frame import collect_numpy, from_any, require_columns

__all__ = ["binary_column", "read_columns"]


def read_columns(data: Any, arguments: dict[str, str]) -> dict[str, np.ndarray]:
    """Return the columns named by ``arguments`` (argument -> column) as numpy arrays.

    Raises :class:`EvenhandError` naming the argument whose column is missing.
    """
    frame = from_any(data)
    require_columns(frame, {arg: [col] for arg, col in arguments.items()})
    columns = list(dict.fromkeys(arguments.values()))
    arrays = collect_numpy(frame, columns)
    return {arg: arrays[col] for arg, col in arguments.items()}


def binary_column(values: np.ndarray, column: str) -> np.ndarray:
    """Return ``values`` as a boolean array; they must be 0/1 or True/False, no missing."""
    arr = np.asarray(values)
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind in "iuf":
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise EvenhandError(
                f"The selected column {column!r} has missing values. Fill or drop them: "
                "every assessed person must be selected (1) or not (0)."
            )
        if np.isin(arr, (0, 1)).all():
            return arr.astype(bool)
    found = sorted({str(v) for v in arr[:10000]})[:10]
    raise EvenhandError(
        f"The selected column {column!r} must be binary (0/1 or True/False); found values "
        f"{found}. Convert it first, e.g. df[{column!r}] == 'hired'."
    )
