"""Renderers of a :class:`~flexcode_bench.reporting.report.Report`, one module per format.

``render(report, fmt)`` returns the text of any format; ``to_rich`` gives Rich tables for a terminal.
"""

from __future__ import annotations

import json

from flexcode_bench.evaluation.significance import check_choice
from flexcode_bench.reporting.csv_table import to_csv, to_dataframe
from flexcode_bench.reporting.latex import to_latex
from flexcode_bench.reporting.markdown import to_markdown
from flexcode_bench.reporting.report import Report
from flexcode_bench.reporting.terminal import to_rich, to_text

FORMATS = ("table", "md", "latex", "csv", "json")

__all__ = ["FORMATS", "render", "to_csv", "to_dataframe", "to_json", "to_latex", "to_markdown", "to_rich", "to_text"]


def to_json(report: Report) -> str:
    """Everything: settings, per-dataset protocol and family, rows, every comparison (NaN as null)."""
    return json.dumps(report.to_dict(), indent=2, allow_nan=False, ensure_ascii=False)


def render(report: Report, fmt: str = "table") -> str:
    """The report as text in ``fmt``: table (plain text), md, latex, csv or json."""
    check_choice(fmt, FORMATS, "format")
    renderers = {"table": to_text, "md": to_markdown, "latex": to_latex, "csv": to_csv, "json": to_json}
    return renderers[fmt](report)
