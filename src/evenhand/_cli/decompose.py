"""``evenhand decompose``: where a gap in mean outcome between two groups comes from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from evenhand._core._errors import EvenhandError
from evenhand._core._json import dump_json, jsonable

__all__ = ["register"]

_KEYWORDS = ("jann", "neumark", "cotton", "reimers")


def _group_values(frame: pl.LazyFrame, group: str) -> list[Any]:
    if group not in frame.collect_schema().names():
        raise EvenhandError(f"Column {group!r} (given as --group) is not in the file.")
    return frame.select(pl.col(group).drop_nulls().unique()).collect()[group].to_list()


def _as_group_value(text: str, values: list[Any], option: str) -> Any:
    """Map a command-line string onto the group value it names (values may be numbers)."""
    for value in values:
        if str(value) == text:
            return value
    raise EvenhandError(
        f"{option} {text!r} is not a value of the group column; its values are "
        f"{sorted(map(str, values))!r}."
    )


def _read_factors(path: Path) -> dict[str, list[str]]:
    from evenhand._cli._io import read_json_file

    factors = read_json_file(path, "factors")
    if not isinstance(factors, dict):
        raise EvenhandError(
            f"The factors file {str(path)!r} must hold a JSON object mapping a factor-group "
            f"name to a list of columns; got {type(factors).__name__}."
        )
    return factors


def _print(res: Any) -> None:
    from evenhand._cli._tables import console, print_frame

    a, b = res.groups
    console.print(
        f"gap = mean({a}) - mean({b}) = {res.gap:.4f}   "
        f"(n = {res.n[a]} and {res.n[b]}; {res.n_dropped} rows with missing values dropped)"
    )
    columns = ["contribution", "ci_low", "ci_high", "share"]
    print_frame(res.overall, "Overall", columns=["component", *columns])
    main = ("explained", "unexplained", "endowments", "coefficients", "interaction")
    by_factor = res.by_factor.filter(pl.col("component").is_in(main))
    print_frame(by_factor, "By factor group", columns=["component", "factor", *columns])


def decompose_command(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or NDJSON file.")],
    outcome: Annotated[str, typer.Option(help="Outcome column.")],
    group: Annotated[str, typer.Option(help="Column with the two groups.")],
    factors: Annotated[Path, typer.Option(help="JSON file: factor group -> list of columns.")],
    method: Annotated[str, typer.Option(help="oaxaca, fairlie or shapley.")] = "oaxaca",
    reference: Annotated[
        str | None, typer.Option(help="A group value, jann, neumark, cotton or reimers.")
    ] = None,
    kind: Annotated[str, typer.Option(help="twofold or threefold (oaxaca).")] = "twofold",
    groups: Annotated[
        str | None, typer.Option(help="Order A,B of the groups: gap = mean(A) - mean(B).")
    ] = None,
    weights: Annotated[str | None, typer.Option(help="Row-weight column.")] = None,
    model: Annotated[str | None, typer.Option(help="logit or probit (fairlie).")] = None,
    equalise: Annotated[str, typer.Option(help="matching or reweighting (shapley).")] = "matching",
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap replicates.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of every random step.")] = 0,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the full result as JSON.")
    ] = None,
) -> None:
    """Decompose a gap in mean outcome between two groups into factor-group contributions."""
    from evenhand._cli._io import scan_table
    from evenhand._decompose._decompose import decompose

    frame = scan_table(file)
    values = _group_values(frame, group)
    ref: Any = reference
    if reference is not None and reference not in _KEYWORDS:
        ref = _as_group_value(reference, values, "--reference")
    order = None
    if groups is not None:
        order = [_as_group_value(t.strip(), values, "--groups") for t in groups.split(",")]
    res = decompose(
        frame,
        outcome=outcome,
        group=group,
        factors=_read_factors(factors),
        method=method,  # type: ignore[arg-type]
        reference=ref,
        kind=kind,  # type: ignore[arg-type]
        weights=weights,
        groups=order,
        model=model,
        equalise=equalise,  # type: ignore[arg-type]
        n_boot=n_boot,
        seed=seed,
    )
    _print(res)
    if json_out is not None:
        dump_json(jsonable(res.to_dict()), json_out)


def register(app: typer.Typer) -> None:
    """Add the ``decompose`` sub-command to ``app``."""
    app.command("decompose")(decompose_command)
