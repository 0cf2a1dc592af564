"""``flexbench report``: tables, significance tests and plots from the run records in results/ only."""

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
        Optional[str], typer.Option(help="Comma-separated metrics (default recall@5,recall@10,ndcg@5,ndcg@10; recall@10,ndcg@10 with --by-popularity).")
    ] = None,
    k: Annotated[Optional[list[int]], typer.Option("--k", help="Shortcut: Recall@K and NDCG@K; repeatable.")] = None,
    by_popularity: Annotated[bool, typer.Option("--by-popularity", help="Add head/torso/tail/cold columns.")] = False,
    baseline: Annotated[str, typer.Option(help="Model compared against every other; 'none' for no tests.")] = "flexcode",
    test: Annotated[str, typer.Option(help="ttest | randomization | wilcoxon (paired over users).")] = "ttest",
    correction: Annotated[str, typer.Option(help="holm | bh | none, across the comparisons of a table.")] = "holm",
    alpha: Annotated[float, typer.Option(help="Significance level after correction.")] = 0.05,
    seeds: Annotated[str, typer.Option(help="pool (per-user mean over seeds) | per-seed (seed s vs seed s).")] = "pool",
    resamples: Annotated[
        int, typer.Option(min=1, help="Resamples of the randomization test and bootstrap CIs (fewer = faster).")
    ] = 10_000,
    allow_mixed: Annotated[bool, typer.Option("--allow-mixed", help="Compare runs made under different protocols.")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | md | latex | csv | json | html (one self-contained page).")] = "table",
    layout: Annotated[
        str, typer.Option(help="dataset (a table per dataset) | paper (models × one column group per dataset).")
    ] = "dataset",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the report to this file.")] = None,
    plots: Annotated[Optional[Path], typer.Option(help="Also write figures (PNG and PDF) into this folder.")] = None,
    split: Annotated[str, typer.Option(help="test | valid.")] = "test",
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Summarise finished runs: mean ± std over seeds per model, overall and by popularity bucket, with
    paired significance tests against a baseline.

    Examples: flexbench report --by-popularity --k 10 --format latex --output table.tex;
    flexbench report --layout paper --format latex; flexbench report --format html --output report.html
    """
    from flexcode_bench.atomic import write_text
    from flexcode_bench.errors import ConfigError
    from flexcode_bench.reporting.render import check_layout, render, to_rich
    from flexcode_bench.reporting.report import build_report

    if as_json and fmt not in ("table", "json"):
        raise ConfigError(f"--json and --format {fmt} contradict each other", hint="--json is short for --format json")
    fmt = "json" if as_json else fmt
    check_layout(fmt, layout)  # before the (possibly slow) tests, not after
    if layout == "paper" and by_popularity:
        raise ConfigError("--layout paper shows overall metrics per dataset; it has no bucket columns",
                          hint="drop --by-popularity, or use the default --layout dataset for buckets")  # fmt: skip
    report = build_report(
        results_dir,
        datasets=dataset,
        models=model,
        metrics=[m.strip() for m in metrics.split(",") if m.strip()] if metrics else None,
        ks=k,
        by_popularity=by_popularity,
        split=split,
        baseline_model=None if baseline.lower() == "none" else baseline,
        test=test,
        correction=correction,
        alpha=alpha,
        seeds=seeds,
        allow_mixed=allow_mixed,
        n_resamples=resamples,
    )
    if output is not None:
        write_text(output, render(report, fmt, layout))
        console.success(f"wrote {fmt} report to {output}")
    elif fmt == "table" and layout == "dataset":
        for table in to_rich(report):
            console.print_table(table)
    else:
        console.data.print(render(report, fmt, layout), soft_wrap=True, markup=False, emoji=False, highlight=False, end="")
    if plots is not None:
        from flexcode_bench.reporting.plots import write_plots

        files = write_plots(report, plots)
        console.success(f"wrote {len(files)} figure files to {plots}")
    for info in report.tables.values():
        for note in info.notes:
            console.info(f"note: {note}")
    if report.failed:
        console.warning(f"{len(report.failed)} failed run(s) not shown: {', '.join(report.failed)}")
