"""``evenhand ll144``: NYC Local Law 144 bias audit (6 RCNY §5-301) of a decisions file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from evenhand._core._errors import EvenhandError

__all__ = ["register"]


def _read_map(path: Path | None, what: str) -> dict[str, Any] | None:
    from evenhand._cli._io import read_json_file

    if path is None:
        return None
    mapping = read_json_file(path, what)
    if not isinstance(mapping, dict):
        raise EvenhandError(f"The {what} file {str(path)!r} must hold a JSON object mapping "
                            "your labels to the law's categories (null for unknown).")
    return mapping


def ll144_command(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or NDJSON file of decisions.")],
    sex: Annotated[str, typer.Option(help="Sex column.")],
    race: Annotated[str, typer.Option(help="Race/ethnicity column.")],
    selected: Annotated[str | None, typer.Option(help="Binary selected column.")] = None,
    score: Annotated[str | None, typer.Option(help="Score column (scoring tool).")] = None,
    race_map: Annotated[
        Path | None, typer.Option("--race-map", help="JSON file: label -> category.")
    ] = None,
    sex_map: Annotated[
        Path | None, typer.Option("--sex-map", help="JSON file: label -> category.")
    ] = None,
    exclude_small: Annotated[
        bool, typer.Option("--exclude-small", help="Leave categories under 2% out of ratios.")
    ] = False,
    data_source: Annotated[str | None, typer.Option(help="Data source (default: file).")] = None,
    data_kind: Annotated[str, typer.Option(help="historical or test.")] = "historical",
    test_data_explanation: Annotated[str | None, typer.Option(help="Why test data.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write JSON.")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write the summary.")] = None,
) -> None:
    """Compute LL144 selection or scoring rates and impact ratios (6 RCNY §5-301)."""
    from evenhand._cli._io import scan_table
    from evenhand._cli._tables import print_frame
    from evenhand.compliance._ll144 import ll144_audit

    res = ll144_audit(
        scan_table(file), sex=sex, race=race, selected=selected, score=score,
        race_map=_read_map(race_map, "race map"), sex_map=_read_map(sex_map, "sex map"),
        exclude_small=exclude_small, data_source=data_source or file.name,
        data_kind=data_kind, test_data_explanation=test_data_explanation,
    )
    columns = ["category", "n", "rate", "impact_ratio", "excluded"]
    for key in ("sex", "race", "intersectional"):
        print_frame(getattr(res, key), key, columns=columns)
    typer.echo(f"assessed {res.n_assessed}; unknown (not included): {res.n_unknown}")
    if json_out is not None:
        res.to_json(str(json_out))
    if html_out is not None:
        res.to_html(str(html_out))


def register(app: typer.Typer) -> None:
    """Add the ``ll144`` sub-command to ``app``."""
    app.command("ll144")(ll144_command)
