"""``evenhand audit`` and ``evenhand demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from evenhand._cli._io import scan_table
from evenhand._cli._tables import console, fmt, fmt_p, print_frame, with_ci
from evenhand._cli.data_bias import print_data_bias
from evenhand._slices._chart import slices_chart

__all__ = ["print_audit", "register"]

_GROUP_METRICS = ("selection_rate", "tpr", "fpr", "ppv")
_REGRESSION_METRICS = ("mae", "rmse", "mean_residual")
_RANKING_METRICS = ("top_k_rate", "exposure_share", "relevance_share", "exposure_to_relevance")
_LABELS = {"selection_rate": "selected", "tpr": "TPR", "fpr": "FPR", "ppv": "PPV",
           "mae": "MAE", "rmse": "RMSE", "mean_residual": "mean resid."}


def _parse_number(text: str | None) -> Any:
    if text is None:
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            continue
    return text


def print_audit(result: Any) -> None:
    """Print the groups (with intervals) and the summary of an audit as readable tables."""
    metrics = result.metrics
    if not isinstance(metrics, pl.DataFrame):
        metrics = pl.from_pandas(metrics)
    task = result.config["task"]
    wanted = {"binary": _GROUP_METRICS, "regression": _REGRESSION_METRICS,
              "ranking": _RANKING_METRICS}.get(task)
    if wanted is None:  # multiclass: the macro averages and accuracy
        wanted = ("macro_tpr", "macro_ppv", "macro_f1", "accuracy")
    for by in metrics["by"].unique(maintain_order=True):
        part = metrics.filter((pl.col("by") == by) & pl.col("metric").is_in(wanted))
        attrs = by.split(" & ")
        rows = []
        for key, group in part.group_by(attrs, maintain_order=True):
            row = {"group": " & ".join(str(k) for k in key), "n": group["count"][0]}
            for r in group.iter_rows(named=True):
                label = _LABELS.get(r["metric"], r["metric"])
                row[label] = with_ci(r["value"], r["ci_low"], r["ci_high"])
            flags = {f for f in group["flag"].to_list() if f}
            row["note"] = "small" if any("small_group" in f for f in flags) else ""
            rows.append(row)
        print_frame(pl.DataFrame(rows), f"Groups by {by} ({result.config['ci']:.0%} CI)")
    if task == "binary":
        summary = result.summary()
        if not isinstance(summary, pl.DataFrame):
            summary = pl.from_pandas(summary)
        for by in summary["by"].unique(maintain_order=True):
            rows = [{
                "definition": r["definition"].replace("_", " "),
                "max − min": with_ci(r["between_groups_difference"], r["difference_ci_low"],
                                     r["difference_ci_high"]),
                "min / max": fmt(r["between_groups_ratio"]),
                "p": fmt_p(r["p_value"]),
                "worst group": r["worst_group"],
                "met": "yes" if r["satisfied"] else "NO" if r["satisfied"] is False else "n/a",
                "satisfied": r["satisfied"],
            } for r in summary.filter(pl.col("by") == by).iter_rows(named=True)]
            print_frame(pl.DataFrame(rows), f"Fairness definitions across {by}",
                        highlight="satisfied", columns=list(rows[0])[:-1])


def _audit_command(
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or NDJSON file.")],
    y_true: Annotated[str, typer.Option("--y-true", help="Label column.")],
    sensitive: Annotated[str, typer.Option(help="Sensitive column(s), comma-separated.")],
    y_pred: Annotated[str | None, typer.Option("--y-pred", help="Decision column.")] = None,
    y_score: Annotated[str | None, typer.Option("--y-score", help="Score column.")] = None,
    threshold: Annotated[float | None, typer.Option(help="Decision = score >= T.")] = None,
    weight: Annotated[str | None, typer.Option(help="Row-weight column.")] = None,
    reference: Annotated[str | None, typer.Option(help="Reference group value.")] = None,
    ci_method: Annotated[str, typer.Option("--ci-method", help="wilson or bootstrap.")] = "wilson",
    n_boot: Annotated[int, typer.Option("--n-boot")] = 1000,
    seed: Annotated[int | None, typer.Option()] = 0,
    pos_label: Annotated[str | None, typer.Option("--pos-label")] = None,
    favorable: Annotated[str, typer.Option(help="positive or negative.")] = "positive",
    task: Annotated[str, typer.Option(
        help="auto, binary, regression, multiclass or ranking.")] = "auto",
    k: Annotated[int | None, typer.Option("--k", help="Top-k length (ranking).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the audit JSON.")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write the HTML report.")] = None,
) -> None:
    """Audit decisions or scores in FILE for fairness, per group, with confidence intervals."""
    import evenhand

    data = scan_table(file)
    with console.status(f"Auditing {file.name}…"):
        result = evenhand.audit(
            data, y_true=y_true, y_pred=y_pred, y_score=y_score, threshold=threshold,
            sensitive=[c.strip() for c in sensitive.split(",") if c.strip()], weight=weight,
            reference=_parse_number(reference), ci_method=ci_method, n_boot=n_boot, seed=seed,
            pos_label=1 if pos_label is None else _parse_number(pos_label), favorable=favorable,
            task=task, k=k,
        )
    print_audit(result)
    _write_outputs(result, json_out, html_out, source=str(file))


def _write_outputs(
    result: Any, json_out: Path | None, html_out: Path | None, **report: Any
) -> None:
    if json_out is not None:
        result.to_json(json_out)
        console.print(f"audit JSON written to {json_out.resolve()}")
    if html_out is not None:
        result.to_html(html_out, **report)
        console.print(f"HTML report written to {html_out.resolve()}")


def _demo_command(
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where to write outputs.")] = Path(
        "demo-output"),
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Audit ProPublica's COMPAS data end to end; write report.html and audit.json."""
    import evenhand
    from evenhand.datasets import load_compas

    with console.status("Loading COMPAS (ProPublica, 7,214 defendants)…"):
        compas = load_compas()
    compas = compas.with_columns(
        pl.col("score_text").is_in(["Medium", "High"]).cast(pl.Int8).alias("high_risk")
    )
    console.print(
        "[bold]COMPAS two-year recidivism[/bold]: decision = score_text in {Medium, High}, "
        "label = two_year_recid, all 7,214 rows (the population of ProPublica's published "
        "error rates). Being flagged high risk is unfavourable."
    )
    with console.status("Auditing…"):
        result = evenhand.audit(
            compas, y_true="two_year_recid", y_pred="high_risk", y_score="decile_score",
            sensitive=["race", "sex"], reference="Caucasian", favorable="negative", seed=seed,
        )
    bias = evenhand.data_bias(compas, y_true="two_year_recid", sensitive="race",
                              facet="African-American")
    print_data_bias(bias, "Label bias before any model (facet: African-American vs the rest)")
    print_audit(result)
    slices = _demo_slices(compas)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_outputs(
        result, out_dir / "audit.json", out_dir / "report.html",
        title="COMPAS two-year recidivism: fairness audit",
        source="ProPublica compas-scores-two-years.csv, all 7,214 defendants",
        data_bias=bias,
        extra_sections=[{
            "title": "Where the decisions err most",
            "text": ("Subgroups (conjunctions of up to three attributes, SliceLine search) "
                     "whose error rate is highest relative to their size; p-values are "
                     "Bonferroni-corrected for every slice evaluated."),
            "content": slices_chart(slices),
            "table": slices,
        }],
        wording={"people": "defendants", "outcome": "reoffended within two years",
                 "no_outcome": "did not reoffend within two years",
                 "selected": "labelled medium or high risk", "not_selected": "labelled low risk"},
    )


def _demo_slices(compas: pl.DataFrame) -> pl.DataFrame:
    import evenhand

    slices = evenhand.find_slices(
        compas, features=["race", "sex", "age_cat", "c_charge_degree", "priors_count"],
        y_true="two_year_recid", y_pred="high_risk", max_order=3, top_k=8, rank_by="lift",
        min_support=100,
    )
    print_frame(slices.select("slice", "size", "error", "lift",
                              pl.col("p_value").map_elements(fmt_p, return_dtype=pl.Utf8)),
                "Subgroups where the decisions err most (lift = error / overall error)")
    return slices


def register(app: typer.Typer) -> None:
    """Add ``audit`` and ``demo`` to the CLI."""
    app.command("audit")(_audit_command)
    app.command("demo")(_demo_command)


