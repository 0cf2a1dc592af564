"""Renderers of a :class:`~flexcode_bench.reporting.report.Report`: Rich table and JSON."""

from __future__ import annotations

import json

from flexcode_bench.reporting.report import Cell, Report


def _fmt(cell: Cell | None) -> str:
    if cell is None:
        return "—"
    return f"{cell.mean:.4f} ± {cell.std:.4f}" if cell.n_seeds > 1 else f"{cell.mean:.4f}"


def to_rich(report: Report) -> list:
    """One Rich table per dataset; the best mean of each column is bold."""
    from rich.table import Table

    tables = []
    for dataset in report.datasets():
        sizes = report.bucket_sizes.get(dataset, {})
        table = Table(title=f"{dataset} · {report.split} · mean ± std over seeds", title_justify="left")
        table.add_column("model", style="bold")
        table.add_column("seeds", justify="right")
        columns: list[tuple[str | None, str]] = [(None, m) for m in report.metrics]
        if report.by_popularity:
            columns += [(b, m) for b in sizes for m in report.metrics]
        for bucket, metric in columns:
            header = metric if bucket is None else f"{bucket} (n={sizes[bucket]:,})\n{metric}"
            table.add_column(header, justify="right")
        for row in report.rows_for(dataset):
            cells = []
            for bucket, metric in columns:
                cell = row.overall.get(metric) if bucket is None else row.by_bucket.get(bucket, {}).get(metric)
                text = _fmt(cell)
                cells.append(f"[bold]{text}[/bold]" if report.best(dataset, metric, bucket) == row.model else text)
            table.add_row(row.model, str(len(row.seeds)), *cells)
        tables.append(table)
    return tables


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2)
