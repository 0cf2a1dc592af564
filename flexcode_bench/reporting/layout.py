"""What every renderer shares: cell text, column headers, the significance marker and the caption.

Renderers differ only in syntax (Rich markup, Markdown, LaTeX, CSV), so the wording of a caption —
which test, which correction, α, family size, how seeds were handled, the protocol — lives here once.
"""

from __future__ import annotations

import math

from flexcode_bench.evaluation.significance import CORRECTION_LABELS, TEST_LABELS
from flexcode_bench.reporting.report import Cell, Report

MARK = "†"
MISSING = "—"
_PRETTY = {"recall": "Recall", "ndcg": "NDCG", "mrr": "MRR", "hr": "HR"}


def value_text(value: float, digits: int = 4) -> str:
    return MISSING if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def cell_parts(cell: Cell | None, digits: int = 4) -> tuple[str, str | None]:
    """``(mean, std)`` as text; std is None for a single seed (nothing to spread)."""
    if cell is None:
        return MISSING, None
    return value_text(cell.mean, digits), (value_text(cell.std, digits) if cell.n_seeds > 1 else None)


def cell_text(report: Report, dataset: str, row, metric: str, bucket: str | None, *, bold: str) -> str:
    """``mean†± std`` for plain-text formats; ``bold`` wraps the best mean (``"**{}**"``, ``"[bold]{}[/bold]"``)."""
    mean, std = cell_parts(row.cell(metric, bucket))
    if row.model in report.best_models(dataset, metric, bucket):
        mean = bold.format(mean)
    mark = MARK if report.significant(dataset, row.model, metric, bucket) else ""
    return f"{mean}{mark}" + (f" ± {std}" if std is not None else "")


def pretty_metric(metric: str) -> str:
    """``ndcg@10`` → ``NDCG@10`` (paper style); unknown names are kept as they are."""
    name, _, k = metric.partition("@")
    return f"{_PRETTY.get(name.lower(), name)}@{k}" if k else metric


def bucket_header(report: Report, dataset: str, bucket: str | None) -> str:
    """``overall`` or ``head (n=1,234)``: a bucket's name with its number of target users."""
    if bucket is None:
        return "overall"
    return f"{bucket} (n={report.bucket_sizes.get(dataset, {}).get(bucket, 0):,})"


def seeds_text(report: Report, dataset: str) -> str:
    """How many seeds stand behind the cells; when models differ, the commonest count is "the rest"."""
    groups: dict[int, list[str]] = {}
    for row in report.rows_for(dataset):
        groups.setdefault(len(row.seeds), []).append(row.model)
    if len(groups) <= 1:
        n = next(iter(groups), 1)
        return "one seed per model (no std)" if n == 1 else f"mean ± std over {n} seeds"
    commonest = max(groups, key=lambda n: (len(groups[n]), n))
    named = [f"{n} for {', '.join(sorted(groups[n]))}" for n in sorted(groups, reverse=True) if n != commonest]
    return f"mean ± std over seeds ({'; '.join(named)}; {commonest} for the rest; no std from one seed)"


def significance_text(report: Report, dataset: str, *, mark: str = MARK) -> str:
    """The sentence explaining the marker, or why there are no tests."""
    settings, info = report.settings, report.tables.get(dataset)
    if settings.baseline is None:
        return "No significance tests (no baseline chosen)."
    family = info.family_size if info else 0
    if family == 0:
        return f"No significance tests: baseline {settings.baseline} has no comparable runs here."
    how_seeds = (
        "seeds pooled (each user's mean over seeds is the paired sample)"
        if settings.seeds == "pool"
        else f"seeds compared one by one (seed s vs seed s); {mark} only when significant in every seed"
    )
    correction = CORRECTION_LABELS[settings.correction]
    corrected = "uncorrected" if settings.correction == "none" else f"{correction} correction"
    return (
        f"{mark} = significantly different from {settings.baseline} (two-sided {TEST_LABELS[settings.test]}, "
        f"paired over identical users, {corrected}, α = {settings.alpha:g}, family of {family} comparisons); "
        f"{how_seeds}."
    )


def caption(report: Report, dataset: str, *, mark: str = MARK) -> str:
    """The full plain-text caption of a dataset's table."""
    info = report.tables.get(dataset)
    parts = [f"{dataset}, {report.split} split, {seeds_text(report, dataset)}; best in bold.", significance_text(report, dataset, mark=mark)]
    if info is not None:
        parts.append(f"Protocol: {info.protocol_summary}.")
        if info.mixed_fields:
            parts.append(f"Warning: runs differ in protocol ({', '.join(info.mixed_fields)}).")
    if report.left_out.get(dataset):
        parts.append(f"Left out: {'; '.join(report.left_out[dataset])}.")
    return " ".join(parts)
