"""Renderers of a :class:`~flexcode_bench.reporting.report.Report`, one module per format.

``render(report, fmt)`` returns the text of any format; ``to_rich`` gives Rich tables for a terminal.
"""

from __future__ import annotations

import json

from flexcode_bench.evaluation.significance import check_choice
from flexcode_bench.reporting.csv_table import to_csv, to_dataframe
from flexcode_bench.reporting.latex import to_latex, to_latex_paper
from flexcode_bench.reporting.markdown import to_markdown, to_markdown_paper
from flexcode_bench.reporting.report import Report
from flexcode_bench.reporting.terminal import to_rich, to_text

FORMATS = ("table", "md", "latex", "csv", "json", "html")
LAYOUTS = ("dataset", "paper")
PAPER_FORMATS = ("table", "md", "latex", "html")

__all__ = ["FORMATS", "LAYOUTS", "check_layout", "render", "to_csv", "to_dataframe", "to_json", "to_latex", "to_markdown", "to_rich", "to_text"]


def to_json(report: Report) -> str:
    """Everything: settings, per-dataset protocol and family, rows, every comparison (NaN as null)."""
    return json.dumps(report.to_dict(), indent=2, allow_nan=False, ensure_ascii=False)


def render(report: Report, fmt: str = "table", layout: str = "dataset") -> str:
    """The report as text in ``fmt`` (table = plain text, md, latex, csv, json, html) and ``layout``:
    ``dataset`` (one table per dataset) or ``paper`` (models × dataset column groups; table, md, latex, html)."""
    check_layout(fmt, layout)
    if fmt == "html":
        from flexcode_bench.reporting.html import to_html

        return to_html(report, layout=layout)
    if layout == "paper":
        return {"table": to_markdown_paper, "md": to_markdown_paper, "latex": to_latex_paper}[fmt](report)
    renderers = {"table": to_text, "md": to_markdown, "latex": to_latex, "csv": to_csv, "json": to_json}
    return renderers[fmt](report)


def check_layout(fmt: str, layout: str) -> None:
    """Refuse an unknown format or layout, or a format the paper layout has no rendering for."""
    from flexcode_bench.errors import ConfigError

    check_choice(fmt, FORMATS, "format")
    check_choice(layout, LAYOUTS, "layout")
    if layout == "paper" and fmt not in PAPER_FORMATS:
        raise ConfigError(f"--layout paper renders as {', '.join(PAPER_FORMATS)}, not {fmt}",
                          hint="csv and json carry every number already with the default layout")  # fmt: skip
