"""``evenhand bounds``: decisions that could flip and metric intervals under trusted ranges."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import polars as pl
import typer

from evenhand._cli._io import read_json_file, scan_table
from evenhand._cli._tables import console, print_frame
from evenhand._core._errors import EvenhandError
from evenhand._core._json import dump_json, jsonable

if TYPE_CHECKING:
    from evenhand.bounds._certify import Method

__all__ = ["load_model", "register"]

DEFAULT_METRICS = ("selection_rate", "tpr", "fpr", "ppv")


def load_model(path: Path) -> Any:
    """Load a fitted model saved with ``joblib.dump`` or ``pickle`` (trusted files only)."""
    import joblib

    if not path.exists():
        raise EvenhandError(f"The model file {str(path)!r} does not exist. Check the path.")
    try:
        return joblib.load(path)
    except Exception as exc:  # unpickling raises many types; report them uniformly
        raise EvenhandError(
            f"Cannot load the model file {str(path)!r} ({type(exc).__name__}: {exc}). "
            "Save the fitted model with joblib.dump(model, path)."
        ) from exc


def _names(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _split(text: str | None) -> list[str] | None:
    return None if text is None else _names(text)


def _polars(frame: Any) -> pl.DataFrame:
    return frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame)


def _yes_no(col: str) -> pl.Expr:
    return pl.when(pl.col(col)).then(pl.lit("yes")).otherwise(pl.lit("no")).alias(col)


def print_certificate(cert: Any, metrics: list[str]) -> None:
    """Print the summary line, the metric intervals and the disparities as tables."""
    rows = _polars(cert.rows)
    console.print(
        f"{rows.height} rows · {cert.n_flippable} decisions can flip · "
        f"{cert.n_unresolved} unresolved · {cert.method}"
        + ("" if cert.guaranteed else " · [bold red]bounds not guaranteed[/bold red]")
    )
    bounds = _polars(cert.metric_bounds).filter(pl.col("metric").is_in(metrics))
    shown = bounds.select(
        "group", "metric", "value", "low", "high",
        _yes_no("exact"),
    )
    print_frame(shown, "Per-group metric intervals over the decisions that can flip")
    disp = _polars(cert.disparity_bounds).filter(
        pl.col("metric").is_in(metrics) & (pl.col("kind") != "ratio")
    )
    shown = disp.select(
        "metric", "kind", "group", "reference", "value", "low", "high",
        _yes_no("exact"),
    )
    print_frame(shown, f"Disparities (against {cert.reference!r}) and between-group spread")


def _bounds_command(
    model: Annotated[Path, typer.Argument(help="Fitted model saved with joblib.dump.")],
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or NDJSON file.")],
    ranges: Annotated[Path, typer.Option(
        help='JSON file: {"feature": 1 | "10%" | list of values | "any" | '
        '{"delta": 1, "min": 0}}.')],
    sensitive: Annotated[str, typer.Option(help="Sensitive column(s), comma-separated.")],
    y_true: Annotated[str | None, typer.Option("--y-true", help="Binary outcome column.")] = None,
    threshold: Annotated[float, typer.Option(help="Decision: score >= threshold.")] = 0.5,
    method: Annotated[str, typer.Option(help="auto, linear, tree or search.")] = "auto",
    features: Annotated[str | None, typer.Option(
        help="Model input columns, comma-separated (default: the model's own).")] = None,
    reference: Annotated[str | None, typer.Option(help="Reference group.")] = None,
    metrics: Annotated[str | None, typer.Option(
        help="Metrics to print, comma-separated.")] = None,
    search_budget: Annotated[int, typer.Option(
        "--search-budget", help="Model scores per row for the search.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed of the search.")] = 0,
    json_out: Annotated[Path | None, typer.Option(
        "--json", help="Write the full certificate as JSON.")] = None,
) -> None:
    """Bound MODEL's decisions on FILE when inputs are trusted only within RANGES.

    MODEL is unpickled: only load model files you trust.
    """
    from evenhand.bounds import certify

    spec = read_json_file(ranges, "ranges")
    fitted = load_model(model)
    data = scan_table(file)
    chosen = _split(metrics) or (list(DEFAULT_METRICS) if y_true else ["selection_rate"])
    with console.status(f"Bounding decisions over {file.name}…"):
        cert = certify(
            fitted, data, ranges=spec, sensitive=_names(sensitive), y_true=y_true,
            # certify rejects any other method name with an EvenhandError
            threshold=threshold, method=cast("Method", method), features=_split(features),
            reference=reference, search_budget=search_budget, seed=seed,
        )
    print_certificate(cert, chosen)
    if json_out is not None:
        dump_json(jsonable(cert.to_dict()), json_out, indent=1)
        console.print(f"certificate JSON written to {json_out.resolve()}")


def register(app: typer.Typer) -> None:
    """Add ``bounds`` to the CLI."""
    app.command("bounds")(_bounds_command)
