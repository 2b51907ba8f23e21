"""``evenhand data-bias``: Clarify's pre-training bias metrics of a labelled file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from evenhand._cli._io import scan_table
from evenhand._cli._tables import console, print_frame
from evenhand._core._errors import EvenhandError
from evenhand._core._json import dump_json, jsonable, records

__all__ = ["register"]

SCHEMA = "evenhand.data_bias/1"
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def _typed(text: str, dtype: pl.DataType, column: str, option: str) -> Any:
    """Convert a command-line value to the type of ``column`` so it can match the data."""
    try:
        if dtype == pl.Boolean:
            if text.strip().lower() not in _TRUE | _FALSE:
                raise ValueError(text)
            return text.strip().lower() in _TRUE
        if dtype.is_integer():
            return int(text)
        if dtype.is_float():
            return float(text)
    except ValueError as exc:
        raise EvenhandError(
            f"{option} {text!r} cannot be compared with column {column!r} of type {dtype}; "
            f"got {text!r}. Pass a value of that type."
        ) from exc
    return text


def _parse_facet(text: str | None, sensitive: list[str], schema: pl.Schema) -> Any:
    """``VALUE`` for one sensitive column; ``col=value[,col=value]`` for several."""
    if text is None:
        return None
    if len(sensitive) == 1:
        col = sensitive[0]
        return _typed(text, schema[col], col, "--facet") if col in schema else text
    facet = {}
    for part in text.split(","):
        col, sep, value = part.partition("=")
        col = col.strip()
        if not sep or col not in sensitive:
            raise EvenhandError(
                f"With several sensitive columns, --facet must be col=value[,col=value] with "
                f"columns from {sensitive}; got {text!r}."
            )
        facet[col] = _typed(value, schema[col], col, "--facet") if col in schema else value
    return facet


def _write_json(result: pl.DataFrame, path: Path, config: dict[str, Any]) -> None:
    payload = {"schema": SCHEMA, **jsonable(config), "metrics": records(result)}
    dump_json(payload, path)
    console.print(f"data-bias JSON written to {path.resolve()}")


_TABLES = (
    ("representation and positive labels", ("CI", "DPL", "DDL", "CDDL")),
    ("divergence of the label distributions", ("KL", "JS", "LP", "TVD", "KS")),
)


def print_data_bias(result: pl.DataFrame, title: str) -> None:
    """Two tables per grouping (a row per facet d, a column per metric), fitting 80 columns."""
    console.print(f"[bold]{title}[/bold]: each facet d against the rest of the data")
    for by in result["by"].unique(maintain_order=True):
        part = result.filter(pl.col("by") == by)
        attrs = by.split(" & ")
        for heading, wanted in _TABLES:
            present = [m for m in wanted if m in set(part["metric"])]
            rows = []
            for key, group in part.group_by(attrs, maintain_order=True):
                group = group.filter(pl.col("metric").is_in(present))
                row: dict[str, Any] = {"facet d": " & ".join(str(k) for k in key),
                                       "n_d": group["n_d"][0]}
                row.update(dict(zip(group["metric"], group["value"], strict=True)))
                row["note"] = "; ".join(sorted({
                    f"{m}: {f}" for m, f in zip(group["metric"], group["flag"], strict=True) if f
                }))
                rows.append(row)
            frame = pl.DataFrame(rows)
            columns = ["facet d", "n_d", *present] + (["note"] if any(frame["note"]) else [])
            print_frame(frame, f"{by}: {heading}",
                        columns=columns)


def _data_bias_command(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or NDJSON file.")],
    y_true: Annotated[str, typer.Option("--y-true", help="Label column.")],
    sensitive: Annotated[str, typer.Option(help="Sensitive column(s), comma-separated.")],
    facet: Annotated[str | None, typer.Option(
        help="Value of facet d (col=value,... with several columns); default: every group.",
    )] = None,
    strata: Annotated[str | None, typer.Option(
        help="Column(s) whose values define the strata of CDDL, comma-separated.")] = None,
    positive_label: Annotated[str | None, typer.Option(
        "--positive-label", help="Label value counted as positive (default 1).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the metrics JSON.")] = None,
) -> None:
    """Measure bias in the labels of FILE before any model (SageMaker Clarify's metrics)."""
    import evenhand

    data = scan_table(file)
    schema = data.collect_schema()
    sens = [c.strip() for c in sensitive.split(",") if c.strip()]
    strata_cols = [c.strip() for c in strata.split(",") if c.strip()] if strata else None
    label: object = 1
    if positive_label is not None:
        label = (_typed(positive_label, schema[y_true], y_true, "--positive-label")
                 if y_true in schema else positive_label)
    with console.status(f"Counting labels per group in {file.name}…"):
        result = evenhand.data_bias(
            data, y_true=y_true, sensitive=sens, facet=_parse_facet(facet, sens, schema),
            strata=strata_cols, positive_label=label,
        )
    print_data_bias(result, f"Label bias in {file.name} (label {y_true}, positive = {label!r})")
    if json_out is not None:
        config = {"file": str(file), "y_true": y_true, "sensitive": sens, "facet": facet,
                  "strata": strata_cols, "positive_label": label}
        _write_json(result, json_out, config)


def register(app: typer.Typer) -> None:
    """Add ``data-bias`` to the CLI."""
    app.command("data-bias")(_data_bias_command)
