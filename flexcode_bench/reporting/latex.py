r"""LaTeX tables, paste-ready: booktabs rules, best value in ``\textbf{}``, significance as
``$^{\dagger}$``, a caption naming the test and correction, and a ``\label{}``.

Needs ``\usepackage{booktabs}`` (and ``graphicx`` for wide tables, which are scaled to the text width).
"""

from __future__ import annotations

import re

from flexcode_bench.reporting.layout import bucket_header, caption, cell_parts, pretty_metric
from flexcode_bench.reporting.report import Report

DAGGER = r"$^{\dagger}$"
_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "±": r"$\pm$", "α": r"$\alpha$", "†": DAGGER, "—": "---", "·": r"$\cdot$",
}  # fmt: skip
_WIDE = 8  # value columns beyond which the tabular is scaled to \textwidth


def escape(text: str) -> str:
    """Escape LaTeX special characters (and map ± α † — · to their LaTeX forms)."""
    return "".join(_SPECIAL.get(ch, ch) for ch in text)


def to_latex(report: Report) -> str:
    """One ``table`` environment per dataset."""
    header = "% flexbench report: needs \\usepackage{booktabs} (and graphicx for scaled tables)\n"
    return header + "\n".join(_table(report, dataset) for dataset in report.datasets())


def _table(report: Report, dataset: str) -> str:
    columns = report.columns(dataset)
    groups = list(dict.fromkeys(bucket for bucket, _ in columns))
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\caption{" + escape(caption(report, dataset)) + "}",
        r"\label{tab:flexbench-" + re.sub(r"[^A-Za-z0-9]+", "-", f"{dataset}-{report.split}").strip("-") + "}",
    ]
    wide = len(columns) > _WIDE
    if wide:
        lines.append(r"\resizebox{\textwidth}{!}{%")
    lines += [r"\begin{tabular}{l" + "r" * len(columns) + "}", r"\toprule"]
    if report.by_popularity:
        spans, rules, start = [""], [], 2
        for bucket in groups:
            width = sum(1 for b, _ in columns if b == bucket)
            label = "Overall" if bucket is None else escape(bucket_header(report, dataset, bucket).capitalize())
            spans.append(rf"\multicolumn{{{width}}}{{c}}{{{label}}}")
            rules.append(rf"\cmidrule(lr){{{start}-{start + width - 1}}}")
            start += width
        lines += [" & ".join(spans) + r" \\", " ".join(rules)]
    lines.append(" & ".join(["Model"] + [escape(pretty_metric(metric)) for _, metric in columns]) + r" \\")
    lines.append(r"\midrule")
    for row in report.rows_for(dataset):
        cells = [escape(row.model)]
        for bucket, metric in columns:
            mean, std = cell_parts(row.cell(metric, bucket))
            mean = escape(mean)
            if row.model in report.best_models(dataset, metric, bucket):
                mean = rf"\textbf{{{mean}}}"
            if report.significant(dataset, row.model, metric, bucket):
                mean += DAGGER
            cells.append(mean + (rf" $\pm$ {std}" if std is not None else ""))
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if wide:
        lines.append("}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
