"""``flexbench report``: tables from the run records in results/ (nothing else is read)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from flexcode_bench import console
from flexcode_bench.cli.errors import friendly_errors


@friendly_errors
def command(
    *,
    results_dir: Annotated[Path, typer.Option(help="Folder of run records.")] = Path("results"),
    dataset: Annotated[Optional[list[str]], typer.Option("--dataset", "-d", help="Only these datasets.")] = None,
    model: Annotated[Optional[list[str]], typer.Option("--model", "-m", help="Only these models.")] = None,
    metrics: Annotated[
        str, typer.Option(help="Comma-separated metrics, e.g. recall@10,ndcg@10.")
    ] = "recall@5,recall@10,ndcg@5,ndcg@10",
    by_popularity: Annotated[bool, typer.Option("--by-popularity", help="Add head/torso/tail/cold columns.")] = False,
    split: Annotated[str, typer.Option(help="test | valid.")] = "test",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
) -> None:
    """Summarise finished runs: mean ± std over seeds per model, overall and by popularity bucket."""
    from flexcode_bench.reporting.render import to_json, to_rich
    from flexcode_bench.reporting.report import build_report

    report = build_report(
        results_dir,
        datasets=dataset,
        models=model,
        metrics=[m.strip() for m in metrics.split(",") if m.strip()],
        by_popularity=by_popularity,
        split=split,
    )
    if as_json:
        console.data.print(to_json(report), soft_wrap=True)
        return
    for table in to_rich(report):
        console.print_table(table)
    if report.failed:
        console.warning(f"{len(report.failed)} failed run(s) not shown: {', '.join(report.failed)}")
