"""``evenhand explain``: decision records for the rows of a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from evenhand._cli._io import read_json_file, scan_table
from evenhand._cli._tables import console, print_frame
from evenhand._core._errors import EvenhandError
from evenhand._core._json import dump_json, jsonable

__all__ = ["register"]


def _columns(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [c.strip() for c in text.split(",") if c.strip()]


def _load_model(path: Path) -> Any:
    """Load a joblib or pickle file (this runs code from the file: trust its source)."""
    import joblib

    if not path.exists():
        raise EvenhandError(f"Model file {str(path)!r} does not exist. Check the path.")
    try:
        return joblib.load(path)
    except Exception as exc:  # a non-model file can fail in any way while unpickling
        raise EvenhandError(
            f"Cannot load a model from {str(path)!r} ({type(exc).__name__}: {exc}). Save it "
            "with joblib.dump(model, path) or pickle.dump."
        ) from exc


def _mapping(path: Path | None, what: str) -> dict[str, Any] | None:
    if path is None:
        return None
    value = read_json_file(path, what)
    if not isinstance(value, dict):
        raise EvenhandError(
            f"The {what} file {str(path)!r} must hold a JSON object; got {type(value).__name__}."
        )
    return value


def _explain_command(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="joblib/pickle model.")],
    file: Annotated[Path, typer.Argument(metavar="FILE", help="CSV/Parquet rows to explain.")],
    sensitive: Annotated[str, typer.Option(help="Sensitive column(s), comma-separated.")],
    calibration: Annotated[
        Path, typer.Option(help="Held-out labelled rows (CSV/Parquet) to calibrate on.")
    ],
    y_true: Annotated[str, typer.Option("--y-true", help="Outcome column of --calibration.")],
    features: Annotated[str | None, typer.Option(help="Model features, comma-separated.")] = None,
    threshold: Annotated[float, typer.Option(help="Decision = score >= T.")] = 0.5,
    alpha: Annotated[float, typer.Option(help="Conformal miscoverage (0.1 = 90%).")] = 0.1,
    actionable: Annotated[str | None, typer.Option(help="Features recourse may change.")] = None,
    immutable: Annotated[str | None, typer.Option(help="Features never changed.")] = None,
    bounds: Annotated[
        Path | None, typer.Option(help='JSON file {"feature": (low, high) as a 2-item list}.')
    ] = None,
    monotone: Annotated[
        Path | None, typer.Option(help='JSON file {"feature": "increase"|"decrease"}.')
    ] = None,
    id_column: Annotated[str | None, typer.Option("--id-column", help="Row id column.")] = None,
    seed: Annotated[int | None, typer.Option()] = 0,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write JSON lines here (else stdout).")
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Also write the HTML cards here.")] = None,
) -> None:
    """Explain the model's decision for each row of FILE: JSON lines (evenhand.decision/1).

    Each record: score, decision, group-conditional prediction set, contributions,
    verified recourse, and the error rates of the person's group (from --calibration).

    Loading MODEL runs code from the file: only load models you trust.
    """
    from evenhand.explain import DecisionExplainer, render_cards

    model = _load_model(model_path)
    bounds_map = _mapping(bounds, "bounds")
    explainer = DecisionExplainer(
        model,
        calibration_data=scan_table(calibration),
        y_true=y_true,
        sensitive=_columns(sensitive) or [],
        features=_columns(features),
        threshold=threshold,
        actionable=_columns(actionable),
        immutable=_columns(immutable),
        bounds={k: tuple(v) if isinstance(v, list) else v for k, v in bounds_map.items()}
        if bounds_map else None,
        monotone=_mapping(monotone, "monotone"),
        alpha=alpha,
        seed=seed,
    )
    records = explainer.explain(scan_table(file), id_column=id_column)
    lines = "\n".join(dump_json(jsonable(r.to_dict()), indent=None) for r in records) + "\n"
    if output is None:
        typer.echo(lines, nl=False)
    else:
        output.write_text(lines)
        _print_summary(records)
        console.print(f"{len(records)} decision records written to {output.resolve()}")
    if html is not None:
        html.write_text(render_cards(records))
        if output is not None:
            console.print(f"HTML cards written to {html.resolve()}")


def _print_summary(records: list[Any]) -> None:
    rows = [{
        "row": str(r.row_id),
        "group": r.group,
        "score": r.score,
        "decision": r.decision,
        "set": ", ".join(map(str, r.prediction_set)) if r.prediction_set is not None
        else f"[{r.interval[0]:.3g}, {r.interval[1]:.3g}]",
        "recourse": ", ".join(f"{k}→{v:.4g}" if isinstance(v, float) else f"{k}→{v}"
                              for k, v in r.recourse.items()) if r.recourse else "none",
    } for r in records[:50]]
    if rows:
        print_frame(pl.DataFrame(rows), f"Decisions ({len(records)} rows, first 50 shown)")


def register(app: typer.Typer) -> None:
    """Add ``explain`` to the CLI."""
    app.command("explain")(_explain_command)
