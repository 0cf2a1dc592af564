"""Markdown tables (GitHub flavour): one per dataset, **best** in bold, † on significant cells."""

from __future__ import annotations

from flexcode_bench.reporting.layout import bucket_header, caption, cell_text
from flexcode_bench.reporting.report import Report


def to_markdown(report: Report) -> str:
    """All datasets' tables, each under a heading and followed by its caption in italics."""
    blocks = []
    for dataset in report.datasets():
        columns = report.columns(dataset)
        headers = ["model", "seeds"] + [
            metric if bucket is None else f"{bucket_header(report, dataset, bucket)} {metric}" for bucket, metric in columns
        ]
        lines = [f"### {_escape(dataset)} ({report.split})", "", _line(headers), _line(["---"] + ["---:"] * (len(headers) - 1))]
        for row in report.rows_for(dataset):
            cells = [_escape(row.model), str(len(row.seeds))]
            for bucket, metric in columns:
                cells.append(cell_text(report, dataset, row, metric, bucket, bold="**{}**"))
            lines.append(_line(cells))
        lines += ["", f"*{_escape(caption(report, dataset))}*"]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _escape(text: str) -> str:
    # A pipe would end the cell; * and _ would start emphasis inside model names like no_align.
    return text.replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def to_markdown_paper(report: Report) -> str:
    """The paper layout: one row per model, per dataset its metrics and Δ to the strongest baseline."""
    from flexcode_bench.reporting.latex import _short
    from flexcode_bench.reporting.paper import improvement_text, paper_caption, paper_table

    table = paper_table(report)
    headers, lines = ["model"], []
    for dataset in table.datasets:
        headers += [f"{dataset} {_short(m)}" for m in table.metrics]
        if table.strongest.get(dataset):
            headers.append(f"{dataset} Δ")
    lines = [f"### {report.split} split: {' | '.join(table.datasets)}", "", _line([_escape(h) for h in headers]),
             _line(["---"] + ["---:"] * (len(headers) - 1))]  # fmt: skip
    for model in table.models:
        cells = [_escape(model)]
        for dataset in table.datasets:
            row = next((r for r in report.rows_for(dataset) if r.model == model), None)
            for metric in table.metrics:
                cells.append(cell_text(report, dataset, row, metric, None, bold="**{}**") if row else "—")
            if table.strongest.get(dataset):
                cells.append(improvement_text(table, dataset, model))
        lines.append(_line(cells))
    lines += ["", f"*{_escape(paper_caption(report, table))}*"]
    return "\n".join(lines) + "\n"
