r"""LaTeX tables, paste-ready: booktabs rules, best value in ``\textbf{}``, significance as
``$^{\dagger}$``, a caption naming the test and correction, and a ``\label{}``.

Every table fits ``\textwidth`` of a plain ``article`` (345 pt) without scaling: the font steps down
from ``\normalsize`` to at most ``\scriptsize``, and a table still too wide is split between its
column groups (buckets, or datasets in the paper layout) into several tables, each repeating the
model column. Tables are ``table*``, which spans both columns in a two-column document and is a
plain ``table`` in a one-column one. Needs ``\usepackage{booktabs}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flexcode_bench.reporting.layout import bucket_header, caption, cell_parts, pretty_metric
from flexcode_bench.reporting.report import Report

DAGGER = r"$^{\dagger}$"
DDAGGER = r"$^{\ddagger}$"
_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "±": r"$\pm$", "α": r"$\alpha$", "†": DAGGER, "‡": DDAGGER, "—": "---", "·": r"$\cdot$", "Δ": r"$\Delta$",
}  # fmt: skip

TEXTWIDTH_PT = 345.0  # \textwidth of article at 10pt (letter and A4): the narrowest page we promise to fit
_TABCOLSEP_PT = 4.0
_SIZES = (("normalsize", 1.0), ("small", 0.9), ("footnotesize", 0.8), ("scriptsize", 0.7))  # never smaller
# Advance widths of Computer Modern at 10 pt, rounded up; other characters count as a wide letter.
_WIDTHS = {**dict.fromkeys("0123456789", 5.0), ".": 2.8, ",": 2.8, " ": 3.4, "-": 3.4, "(": 3.9, ")": 3.9,
           "=": 7.8, "+": 7.8, "±": 7.8, "%": 8.4, "—": 10.0, "†": 3.2, "‡": 3.2, "@": 7.8, "Δ": 8.4,
           **dict.fromkeys("ijl", 2.8), **dict.fromkeys("ftr", 3.9), **dict.fromkeys("mw", 8.4)}  # fmt: skip
_LOWER, _UPPER = 5.3, 7.6
# pdflatex (T1 Computer Modern) measured tables up to 2% wider than these per-character widths
# predict (inter-word glue, math spacing around ±): a measured margin, not a font model.
_MARGIN = 1.06


def escape(text: str) -> str:
    """Escape LaTeX special characters (and map ± α † ‡ — · Δ to their LaTeX forms)."""
    return "".join(_SPECIAL.get(ch, ch) for ch in text)


def text_width_pt(text: str, *, bold: bool = False) -> float:
    """A generous estimate of ``text``'s width at 10 pt in Computer Modern (bold is 15% wider)."""
    width = sum(_WIDTHS.get(ch, _UPPER if ch.isupper() else _LOWER) for ch in text)
    return width * (1.15 if bold else 1.0) * _MARGIN


@dataclass
class Cell:
    """One table cell: its plain text (for the width estimate) and its LaTeX."""

    plain: str
    latex: str
    bold: bool = False


@dataclass
class Group:
    """A column group: its heading (None: no heading row) and its columns (header, cells per row)."""

    heading: str | None
    headers: list[str]
    cells: list[list[Cell]]  # [column][row]


def fitted_tables(*, row_header: str, rows: list[str], groups: list[Group], caption_text: str, label: str) -> str:
    """``table*`` environments holding ``groups`` beside the row labels, as few as fit the text width."""
    while True:
        for parts in _partitions(groups):
            for size, scale in _SIZES:
                if all(_width(rows, row_header, part, scale) <= TEXTWIDTH_PT for part in parts):
                    return "\n".join(
                        _table(rows, row_header, part, size, caption_text if i == 0 else f"{caption_text.split('. ')[0]} (continued).",
                               label if i == 0 else f"{label}-{i + 1}")
                        for i, part in enumerate(parts)
                    )  # fmt: skip
        # One group alone is wider than the page even in \scriptsize: halve the widest groups' columns.
        halved = [half for g in groups for half in _halves(g)]
        if len(halved) == len(groups):  # single columns and still too wide: nothing left to split
            return "\n".join(_table(rows, row_header, [g], "scriptsize", caption_text, f"{label}-{i + 1}")
                             for i, g in enumerate(groups))  # fmt: skip
        groups = halved


def _halves(group: Group) -> list[Group]:
    if len(group.headers) < 2:
        return [group]
    cut = -(-len(group.headers) // 2)
    return [Group(group.heading, group.headers[:cut], group.cells[:cut]), Group(group.heading, group.headers[cut:], group.cells[cut:])]


def _partitions(groups: list[Group]):
    """Consecutive splits of the groups into 1, 2, … tables, the most balanced first for each count."""
    n = len(groups)
    for count in range(1, n + 1):
        size = -(-n // count)
        yield [groups[i : i + size] for i in range(0, n, size)]


def _width(rows: list[str], row_header: str, groups: list[Group], scale: float) -> float:
    """The tabular's width in pt at a font ``scale``: text scales with the font, column padding does not."""
    first = max([text_width_pt(row_header)] + [text_width_pt(r) for r in rows]) * scale
    total = first + 2 * _TABCOLSEP_PT
    for group in groups:
        columns = 0.0
        for header, cells in zip(group.headers, group.cells):
            widest = max([text_width_pt(header)] + [text_width_pt(c.plain, bold=c.bold) for c in cells])
            columns += widest * scale + 2 * _TABCOLSEP_PT
        if group.heading is not None:
            columns = max(columns, text_width_pt(group.heading) * scale + 2 * _TABCOLSEP_PT)
        total += columns
    return total


def _table(rows: list[str], row_header: str, groups: list[Group], size: str, caption_text: str, label: str) -> str:
    n_columns = sum(len(g.headers) for g in groups)
    lines = [
        r"\begin{table*}[t]",
        r"\centering",
        rf"\{size}",
        rf"\setlength{{\tabcolsep}}{{{_TABCOLSEP_PT:g}pt}}",
        r"\caption{" + escape(caption_text) + "}",
        r"\label{" + label + "}",
        r"\begin{tabular}{l" + "r" * n_columns + "}",
        r"\toprule",
    ]
    if any(g.heading is not None for g in groups):
        spans, rules, start = [""], [], 2
        for group in groups:
            width = len(group.headers)
            spans.append(rf"\multicolumn{{{width}}}{{c}}{{{escape(group.heading or '')}}}")
            rules.append(rf"\cmidrule(lr){{{start}-{start + width - 1}}}")
            start += width
        lines += [" & ".join(spans) + r" \\", " ".join(rules)]
    lines.append(" & ".join([escape(row_header)] + [escape(h) for g in groups for h in g.headers]) + r" \\")
    lines.append(r"\midrule")
    for i, row in enumerate(rows):
        lines.append(" & ".join([escape(row)] + [column[i].latex for g in groups for column in g.cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table*}"]
    return "\n".join(lines) + "\n"


def _label(text: str) -> str:
    return "tab:flexbench-" + re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


def report_cell(report: Report, dataset: str, model: str, metric: str, bucket: str | None) -> Cell:
    """A per-dataset (or paper) cell: mean, bold when best, † when significant, ± std over seeds."""
    row = next((r for r in report.rows_for(dataset) if r.model == model), None)
    mean, std = cell_parts(row.cell(metric, bucket) if row else None)
    bold = row is not None and model in report.best_models(dataset, metric, bucket)
    significant = row is not None and report.significant(dataset, model, metric, bucket)
    latex = rf"\textbf{{{escape(mean)}}}" if bold else escape(mean)
    plain = mean + ("†" if significant else "") + (f" ± {std}" if std is not None else "")
    latex += (DAGGER if significant else "") + (rf" $\pm$ {std}" if std is not None else "")
    return Cell(plain, latex, bold)


def to_latex(report: Report) -> str:
    """One table per dataset (split over several when its bucket groups do not fit the page)."""
    header = "% flexbench report: needs \\usepackage{booktabs}\n"
    return header + "\n".join(_dataset_tables(report, dataset) for dataset in report.datasets())


def _dataset_tables(report: Report, dataset: str) -> str:
    columns = report.columns(dataset)
    models = [row.model for row in report.rows_for(dataset)]
    groups = []
    for bucket in dict.fromkeys(b for b, _ in columns):
        metrics = [m for b, m in columns if b == bucket]
        heading = None
        if report.by_popularity:
            heading = "Overall" if bucket is None else bucket_header(report, dataset, bucket).capitalize()
        groups.append(Group(heading, [pretty_metric(m) for m in metrics],
                            [[report_cell(report, dataset, model, m, bucket) for model in models] for m in metrics]))  # fmt: skip
    return fitted_tables(row_header="Model", rows=models, groups=groups, caption_text=caption(report, dataset),
                         label=_label(f"{dataset}-{report.split}"))  # fmt: skip


def to_latex_paper(report: Report) -> str:
    """The paper layout (models × dataset groups), split between dataset groups when it does not fit."""
    from flexcode_bench.reporting.paper import improvement_text, paper_caption, paper_table

    table = paper_table(report)
    groups = []
    for dataset in table.datasets:
        cells = [[report_cell(report, dataset, model, m, None) for model in table.models] for m in table.metrics]
        headers = [_short(m) for m in table.metrics]
        if table.strongest.get(dataset):
            improvements = [improvement_text(table, dataset, model) for model in table.models]
            cells.append([Cell(text, escape(text)) for text in improvements])
            headers.append("Δ")
        groups.append(Group(dataset, headers, cells))
    header = "% flexbench report (paper layout): needs \\usepackage{booktabs}\n"
    return header + fitted_tables(row_header="Model", rows=table.models, groups=groups,
                                  caption_text=paper_caption(report, table), label=_label(f"paper-{report.split}"))  # fmt: skip


def _short(metric: str) -> str:
    """``recall@10`` → ``R@10``, ``ndcg@5`` → ``N@5``: paper tables' column names."""
    name, _, k = metric.partition("@")
    return f"{ {'recall': 'R', 'ndcg': 'N', 'mrr': 'MRR', 'hr': 'HR'}.get(name, name)}@{k}" if k else metric
