"""``evenhand slices``: the subgroups of a file where a model errs most (SliceLine)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from evenhand._cli._io import scan_table
from evenhand._cli._tables import console, fmt, fmt_p, print_frame, with_ci
from evenhand._core._errors import EvenhandError
from evenhand._core._json import dump_json, jsonable, records

__all__ = ["register"]

SCHEMA = "evenhand.slices/1"
P_HEADERS = {"bonferroni": "p (Bonf.)", "holm": "p (Holm)"}


def _columns(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [c.strip() for c in text.split(",") if c.strip()]


def _support(text: str | None) -> int | float | None:
    """``--min-support 50`` is a row count, ``--min-support 0.01`` a share of rows."""
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError as exc:
        raise EvenhandError(
            f"--min-support must be a row count (e.g. 50) or a share of rows (e.g. 0.01); "
            f"got {text!r}."
        ) from exc


def _write_json(result: pl.DataFrame, info: Any, path: Path, config: dict[str, Any]) -> None:
    payload = {"schema": SCHEMA, **jsonable(config), "search": jsonable(vars(info)),
               "slices": records(result)}
    dump_json(payload, path)
    console.print(f"slices JSON written to {path.resolve()}")


def print_slices(result: pl.DataFrame, info: Any, title: str) -> None:
    """One row per slice: error with its interval, lift, corrected p-value, score."""
    p_header = P_HEADERS[info.correction]
    rows = [
        {
            "#": i + 1,
            "slice": r["slice"],
            "size": r["size"],
            "error [CI]": with_ci(r["error"], r["error_ci_low"], r["error_ci_high"]),
            "lift": fmt(r["lift"], 2),
            p_header: fmt_p(r["p_value"]),
            "score": fmt(r["score"]),
        }
        for i, r in enumerate(result.iter_rows(named=True))
    ]
    if rows:
        print_frame(pl.DataFrame(rows), title)
    else:
        console.print(f"[bold]{title}[/bold]: no slice qualifies (see --alpha, --min-support).")
    share = info.candidates_evaluated / info.lattice_size if info.lattice_size else 0.0
    console.print(
        f"overall error {fmt(info.mean_error, 4)} ({info.loss_kind} loss) over {info.n_rows} "
        f"rows; min support {info.min_support} rows; evaluated {info.candidates_evaluated} "
        f"of {info.lattice_size} candidate slices ({share:.1%})."
    )


def _slices_command(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or NDJSON file.")],
    features: Annotated[str, typer.Option(help="Columns that may define slices, comma-separated.")],
    y_true: Annotated[str | None, typer.Option("--y-true", help="Label column.")] = None,
    y_pred: Annotated[str | None, typer.Option("--y-pred", help="Prediction column.")] = None,
    loss: Annotated[
        str | None, typer.Option(help="Per-row loss column, instead of --y-true/--y-pred.")
    ] = None,
    max_order: Annotated[int, typer.Option("--max-order", help="Most predicates per slice.")] = 3,
    min_support: Annotated[
        str | None,
        typer.Option("--min-support", help="Smallest slice: rows (50) or share of rows (0.01)."),
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", help="Slices to show.")] = 10,
    alpha: Annotated[float, typer.Option(help="SliceLine's weight of the error term.")] = 0.95,
    rank_by: Annotated[
        str, typer.Option("--rank-by", help="score, lift or significance.")
    ] = "score",
    bins: Annotated[int, typer.Option(help="Quantile bins per numeric feature.")] = 5,
    seed: Annotated[int | None, typer.Option(help="Seed of bootstrap intervals.")] = None,
    ci: Annotated[str, typer.Option(help="Error interval: auto or bootstrap.")] = "auto",
    correction: Annotated[
        str,
        typer.Option(help="Family-wise p-value correction: bonferroni or holm (more power)."),
    ] = "bonferroni",
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the slices JSON.")] = None,
) -> None:
    """Find the slices of FILE where the model errs most (exact SliceLine top-k)."""
    import evenhand

    data = scan_table(file)
    feats = _columns(features)
    support = _support(min_support)
    with console.status(f"Searching slices of {file.name}…"):
        result, info = evenhand.find_slices(
            data,
            features=feats,
            y_true=y_true,
            y_pred=y_pred,
            loss=loss,
            max_order=max_order,
            min_support=support,
            top_k=top_k,
            alpha=alpha,
            seed=seed,
            rank_by=rank_by,
            n_bins=bins,
            ci=ci,
            correction=correction,
            return_stats=True,
        )
    target = f"loss {loss}" if loss else f"{y_true} vs {y_pred}"
    print_slices(
        result,
        info,
        f"Slices of {file.name} where the model errs most ({target}, ranked by {rank_by})",
    )
    if json_out is not None:
        config = {
            "file": str(file),
            "features": feats,
            "y_true": y_true,
            "y_pred": y_pred,
            "loss": loss,
            "max_order": max_order,
            "min_support": support,
            "top_k": top_k,
            "alpha": alpha,
            "rank_by": rank_by,
            "bins": bins,
            "correction": correction,
        }
        _write_json(result, info, json_out, config)


def register(app: typer.Typer) -> None:
    """Add ``slices`` to the CLI."""
    app.command("slices")(_slices_command)
