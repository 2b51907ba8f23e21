"""One JSON convention for every result: non-finite numbers become null."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

__all__ = ["dump_json", "jsonable", "records"]


def jsonable(value: Any) -> Any:
    """Convert numpy scalars, NaN/inf (to ``None``), dates (ISO strings) and containers to JSON."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return str(value)
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-ready dicts (see :func:`jsonable`)."""
    return [{k: jsonable(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]


def dump_json(payload: Any, path: str | Path | None = None, *, indent: int | None = 2) -> str:
    """Serialise ``payload`` strictly (a stray ``NaN`` is an error, not invalid JSON).

    Writes the text to ``path`` when given and returns it.
    """
    text = json.dumps(payload, indent=indent, allow_nan=False)
    if path is not None:
        Path(path).write_text(text)
    return text
