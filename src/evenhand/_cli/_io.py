"""Reading CLI input files lazily with polars."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from evenhand._core._errors import EvenhandError

__all__ = ["read_json_file", "scan_table"]

_SCANNERS = {
    ".csv": lambda p: pl.scan_csv(p, infer_schema_length=10000, null_values=["", "NA", "N/A"]),
    ".parquet": pl.scan_parquet,
    ".pq": pl.scan_parquet,
    ".ndjson": pl.scan_ndjson,
    ".jsonl": pl.scan_ndjson,
}


def scan_table(path: str | Path) -> pl.LazyFrame:
    """Open a CSV, Parquet or NDJSON file lazily; nothing is read until collected."""
    path = Path(path)
    if not path.exists():
        raise EvenhandError(f"Input file {str(path)!r} does not exist. Check the path.")
    scanner = _SCANNERS.get(path.suffix.lower())
    if scanner is None:
        raise EvenhandError(
            f"Cannot read {str(path)!r}: unknown extension {path.suffix!r}. "
            f"Use one of {sorted(_SCANNERS)}."
        )
    return scanner(path)


def read_json_file(path: str | Path, what: str) -> Any:
    """Read a JSON file given on the command line (e.g. factors or ranges)."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise EvenhandError(f"The {what} file {str(path)!r} does not exist.") from exc
    except json.JSONDecodeError as exc:
        raise EvenhandError(f"The {what} file {str(path)!r} is not valid JSON: {exc}.") from exc
