"""Rich terminal tables: one per dataset, best mean in bold, † on significant cells, caption below.

The caption is printed under the table rather than as the table's own caption, which Rich would
wrap at the table's width: a two-column table would get a tall, narrow paragraph.
"""

from __future__ import annotations

from flexcode_bench.reporting.layout import bucket_header, caption, cell_text
from flexcode_bench.reporting.report import Report


def to_rich(report: Report) -> list:
    """One Rich renderable per dataset: the table, then its caption."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    tables = []
    for dataset in report.datasets():
        table = Table(
            title=f"{dataset} · {report.split} · mean ± std over seeds",
            title_justify="left",
        )
        table.add_column("model", style="bold")
        table.add_column("seeds", justify="right")
        columns = report.columns(dataset)
        for bucket, metric in columns:
            header = metric if bucket is None else f"{bucket_header(report, dataset, bucket)}\n{metric}"
            table.add_column(header, justify="right")
        for row in report.rows_for(dataset):
            cells = []
            for bucket, metric in columns:
                cells.append(cell_text(report, dataset, row, metric, bucket, bold="[bold]{}[/bold]"))
            table.add_row(escape(row.model), str(len(row.seeds)), *cells)
        tables.append(Group(table, Text(caption(report, dataset), style="dim")))
    return tables


def to_text(report: Report) -> str:
    """The tables as plain text (no colour codes) at their natural width, e.g. for ``--output``."""
    from io import StringIO

    from rich.console import Console

    buffer = StringIO()
    wide = Console(file=buffer, width=10_000, no_color=True, highlight=False, color_system=None)
    for table in to_rich(report):
        width = wide.measure(table).maximum
        Console(file=buffer, width=width, no_color=True, highlight=False, color_system=None).print(table)
    return buffer.getvalue()
