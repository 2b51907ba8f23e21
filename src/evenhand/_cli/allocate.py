"""``evenhand allocate``: who gets a scarce resource under an equity rule."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from evenhand._cli._io import scan_table
from evenhand._cli._tables import console, fmt, print_frame, with_ci
from evenhand._core._errors import EvenhandError

__all__ = ["parse_capacity", "register"]


def parse_capacity(text: str, n_rows: int | None) -> float:
    """Parse ``--capacity``: a number, or a percentage of the rows such as ``10%``."""
    text = text.strip()
    try:
        if text.endswith("%"):
            share = float(text[:-1]) / 100
            if n_rows is None or not 0 <= share <= 1:
                raise ValueError
            return float(int(share * n_rows))
        value = float(text)
    except ValueError as exc:
        raise EvenhandError(
            f"--capacity must be a number (people, or a budget with --cost) or a percentage "
            f"of the rows such as 10%; got {text!r}."
        ) from exc
    return float(int(value)) if value.is_integer() else value


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [c.strip() for c in text.split(",") if c.strip()]


def print_allocation(result: Any) -> None:
    """Print per-group results, totals and the comparison of rules as readable tables."""
    groups = _polars(result.by_group)
    label = pl.concat_str([pl.col(c).cast(pl.String) for c in result.config["group"]],
                          separator=" & ")
    rows = []
    for r in groups.with_columns(label.alias("__label")).iter_rows(named=True):
        row = {"group": r["__label"], "size": r["size"], "served": r["served"],
               "rate": r["rate"], "share": r["share"],
               "benefit": with_ci(r["benefit"], r.get("benefit_low"), r.get("benefit_high"))}
        if "need_rate" in r:
            row["need rate"] = r["need_rate"]
        row["slack"] = r["slack"]
        rows.append(row)
    print_frame(pl.DataFrame(rows), f"Allocation under {result.config['constraint']!r} "
                f"(tolerance {result.config['tolerance']:g}) by group")
    ci = result.total_benefit_ci
    total = fmt(result.total_benefit, 4)
    if ci is not None:
        total += f" [{fmt(ci[0], 4)}, {fmt(ci[1], 4)}]"
    console.print(
        f"served {result.served} · total benefit {total} · unconstrained "
        f"{fmt(result.unconstrained_benefit, 4)} · price of fairness "
        f"{fmt(result.price_of_fairness, 4)} ({fmt(100 * result.relative_price_of_fairness, 2)}"
        f"%) · {result.method}, {result.status}"
    )
    if result.compare is not None:
        table = _polars(result.compare)
        names = {"rule": "rule", "status": "status", "served": "served",
                 "total_benefit": "benefit", "relative_price_of_fairness": "price %",
                 "rate_gap": "rate gap", "need_rate_gap": "need gap",
                 "min_mean_benefit": "worst mean"}
        table = table.select([c for c in names if c in table.columns]).rename(names, strict=False)
        table = table.with_columns(pl.col("price %") * 100)
        print_frame(table, "Rules side by side")


def _polars(frame: Any) -> pl.DataFrame:
    return frame if isinstance(frame, pl.DataFrame) else pl.from_pandas(frame)


def _allocate_command(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or NDJSON file.")],
    benefit: Annotated[str, typer.Option(help="Expected benefit per person if served.")],
    group: Annotated[str, typer.Option(help="Group column(s), comma-separated.")],
    capacity: Annotated[str, typer.Option(help="People (or budget with --cost), or e.g. 10%.")],
    cost: Annotated[str | None, typer.Option(help="Cost column: capacity is a budget.")] = None,
    need: Annotated[str | None, typer.Option(help="Need column (0/1 or continuous).")] = None,
    constraint: Annotated[str | None, typer.Option(
        help="none, parity, proportional, equal_opportunity, max_min or shares.")] = None,
    tolerance: Annotated[float, typer.Option(help="Tolerance of the rule.")] = 0.0,
    min_share: Annotated[float | None, typer.Option("--min-share")] = None,
    max_share: Annotated[float | None, typer.Option("--max-share")] = None,
    compare: Annotated[str | None, typer.Option(
        help="Rules to compare, comma-separated, or 'all'.")] = None,
    benefit_se: Annotated[str | None, typer.Option("--benefit-se")] = None,
    method: Annotated[str, typer.Option(help="auto, quota or milp.")] = "auto",
    time_limit: Annotated[float | None, typer.Option("--time-limit")] = None,
    output: Annotated[Path | None, typer.Option(
        help="Write FILE's rows with a 'selected' column (.csv or .parquet).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result JSON.")] = None,
) -> None:
    """Choose who in FILE is served, up to CAPACITY, under an equity rule."""
    import evenhand

    if output is not None and output.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise EvenhandError(f"--output must end in .csv or .parquet; got {str(output)!r}.")
    data = scan_table(file)
    n_rows = data.select(pl.len()).collect().item() if capacity.strip().endswith("%") else None
    compare_arg: Any = _split(compare)
    if compare_arg == ["all"]:
        compare_arg = True
    with console.status(f"Allocating over {file.name}…"):
        result = evenhand.allocate(
            data, benefit=benefit, group=_split(group), capacity=parse_capacity(capacity, n_rows),
            cost=cost, need=need, constraint=constraint, tolerance=tolerance,
            min_share=min_share, max_share=max_share, compare=compare_arg,
            benefit_se=benefit_se, method=method, time_limit=time_limit,
        )
    print_allocation(result)
    if output is not None:
        _write_selected(data, result.selected, output)
    if json_out is not None:
        result.to_json(json_out)
        console.print(f"allocation JSON written to {json_out.resolve()}")


def _write_selected(data: pl.LazyFrame, selected: pl.Series, path: Path) -> None:
    table = data.collect().with_columns(selected)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        table.write_csv(path)
    else:
        table.write_parquet(path)
    console.print(f"rows with 'selected' written to {path.resolve()}")


def register(app: typer.Typer) -> None:
    """Add ``allocate`` to the CLI."""
    app.command("allocate")(_allocate_command)
