"""Adapting any supported dataframe to narwhals, validating columns, returning results.

evenhand accepts pandas, polars (eager or lazy), pyarrow tables, DuckDB relations,
Spark DataFrames and dicts of arrays. Inside, work is expressed with narwhals so the
input's own engine runs it; results come back in the caller's library (pandas in,
pandas out; polars in, polars out; anything else gives polars).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np
import polars as pl

from evenhand._core._errors import EvenhandError, did_you_mean

__all__ = [
    "as_column_list",
    "check_column_arguments",
    "collect_numpy",
    "from_any",
    "group_codes",
    "output_like",
    "require_columns",
]


def from_any(data: Any) -> nw.DataFrame | nw.LazyFrame:
    """Wrap ``data`` as a narwhals frame without copying or collecting it.

    A mapping of column name to array becomes a polars DataFrame first. A pyarrow Table is
    read by polars over the same Arrow buffers (no copy for numeric columns): its group-by
    aggregations run 1.6× faster there than in pyarrow's compute functions.
    """
    if isinstance(data, nw.DataFrame | nw.LazyFrame):
        return data
    if _is_arrow_table(data):
        # an Arrow type polars cannot read keeps pyarrow's own engine
        with contextlib.suppress(pl.exceptions.PolarsError, TypeError, ValueError):
            data = pl.from_arrow(data)
    if isinstance(data, Mapping):
        try:
            data = pl.DataFrame({str(k): np.asarray(v) for k, v in data.items()})
        except (pl.exceptions.ShapeError, ValueError) as exc:
            raise EvenhandError(
                f"The columns of the dict passed as data have mismatched lengths ({exc}). "
                "Pass arrays of equal length."
            ) from exc
    try:
        return nw.from_native(data)
    except TypeError as exc:
        raise EvenhandError(
            f"data of type {type(data).__name__!r} is not supported. Pass a pandas or polars "
            "DataFrame, a polars LazyFrame, a pyarrow Table, a DuckDB relation, a Spark "
            "DataFrame, or a dict of equal-length arrays."
        ) from exc


def _is_arrow_table(data: Any) -> bool:
    module = type(data).__module__
    return module.startswith("pyarrow") and type(data).__name__ == "Table"


def as_column_list(value: str | Sequence[str] | None, argument: str) -> list[str]:
    """Normalise a column argument given as one name or a sequence of names."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    cols = list(value)
    if not cols or not all(isinstance(c, str) for c in cols):
        raise EvenhandError(
            f"The {argument!r} argument must be a column name or a non-empty list of column "
            f"names; got {value!r}."
        )
    return cols


def check_column_arguments(
    caller: str,
    single: Mapping[str, Any],
    multiple: Mapping[str, Any] | None = None,
) -> None:
    """Raise :class:`EvenhandError` when a column-role argument holds data, not names.

    Parameters
    ----------
    caller : str
        The public function, named in the message (e.g. ``"audit"``).
    single : mapping
        Argument name to value, for arguments naming one column (``None`` allowed).
    multiple : mapping, optional
        Argument name to value, for arguments naming one column or a list of columns.
    """
    for argument, value in single.items():
        if value is not None and not isinstance(value, str):
            raise EvenhandError(_not_a_name(caller, argument, value, "a column name"))
    for argument, value in (multiple or {}).items():
        if value is None or isinstance(value, str):
            continue
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            continue
        raise EvenhandError(
            _not_a_name(caller, argument, value, "a column name or a list of column names")
        )


def _not_a_name(caller: str, argument: str, value: Any, expected: str) -> str:
    shape = getattr(value, "shape", None)
    got = type(value).__name__ + (f" of shape {tuple(shape)}" if shape is not None else "")
    return (
        f"The {argument!r} argument of {caller} takes {expected}; got a {got}. Pass a column "
        f"name, or add the values to the data as a column first (e.g. "
        f"df[{argument!r}] = values) and pass {argument}={argument!r}."
    )


def require_columns(
    frame: nw.DataFrame | nw.LazyFrame, columns: Mapping[str, Sequence[str]]
) -> None:
    """Raise :class:`EvenhandError` naming each argument whose column is absent.

    ``columns`` maps an argument name (e.g. ``"y_true"``) to the columns it names.
    """
    present = frame.collect_schema().names()
    for argument, cols in columns.items():
        for col in cols:
            if col not in present:
                raise EvenhandError(
                    f"Column {col!r} (given as {argument}) is not in the data; its columns are "
                    f"{present[:20]}{' ...' if len(present) > 20 else ''}."
                    + did_you_mean(col, present)
                )


def collect_numpy(data: Any, columns: Sequence[str]) -> dict[str, np.ndarray]:
    """Select ``columns`` with the input's engine and return them as numpy arrays.

    For modules that genuinely need row-level arrays (model fitting, optimisation).
    Only the named columns leave the engine.
    """
    frame = from_any(data)
    require_columns(frame, {"columns": list(columns)})
    selected = frame.select(*columns)
    if isinstance(selected, nw.LazyFrame):
        selected = selected.collect(backend="polars")
    out = selected.to_polars() if hasattr(selected, "to_polars") else selected
    return {c: out.get_column(c).to_numpy() for c in columns}


def native_library(data: Any) -> str:
    """Return ``"pandas"`` or ``"polars"``: the library results should be returned in."""
    if isinstance(data, nw.DataFrame | nw.LazyFrame):
        data = data.to_native()
    module = type(data).__module__.split(".")[0]
    return "pandas" if module == "pandas" else "polars"


def output_like(result: pl.DataFrame, data: Any) -> Any:
    """Return the polars ``result`` in the caller's library (pandas in, pandas out)."""
    if native_library(data) == "pandas":
        return result.to_pandas()
    return result


def group_codes(table: pl.DataFrame, columns: Sequence[str]) -> tuple[pl.DataFrame, np.ndarray]:
    """Distinct rows of ``columns`` (sorted, nulls last) and each row's index into them.

    The one place where group keys are encoded, so every module orders groups alike.
    """
    columns = list(columns)
    if not columns:
        return pl.DataFrame(), np.zeros(table.height, dtype=np.int64)
    sub = table.select(columns)
    keys = sub.unique().sort(columns, nulls_last=True)
    codes = (
        sub.with_row_index("__evenhand_row")
        .join(keys.with_row_index("__evenhand_code"), on=columns, how="left", nulls_equal=True)
        .sort("__evenhand_row")
        .get_column("__evenhand_code")
        .to_numpy()
        .astype(np.int64)
    )
    return keys, codes
