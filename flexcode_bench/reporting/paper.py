"""The paper layout: models as rows, one column group per dataset (e.g. Sports | Beauty | Toys ×
R@5 N@5 R@10 N@10), and per dataset an improvement column over the strongest baseline.

Cells, bold and † follow the per-dataset tables (:mod:`~flexcode_bench.reporting.layout`). The
improvement of a row is its relative difference on one primary metric (NDCG@10 when shown) to the
strongest baseline of that dataset — the best model outside the FlexCode family — with its own
paired test over identical users (seeds pooled per user), corrected as one family per dataset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from flexcode_bench.ablations import FLEXCODE
from flexcode_bench.evaluation.significance import CORRECTION_LABELS, TEST_LABELS, Comparison, adjust_comparisons, compare
from flexcode_bench.reporting.layout import pretty_metric, seeds_text
from flexcode_bench.reporting.report import Report


@dataclass
class Improvement:
    relative: float  # (row − strongest baseline) / strongest baseline, on the primary metric
    significant: bool


@dataclass
class PaperTable:
    datasets: list[str]
    models: list[str]
    metrics: list[str]  # ordered by K, recall before ndcg: R@5 N@5 R@10 N@10
    primary: str
    strongest: dict[str, str | None] = field(default_factory=dict)  # dataset → strongest baseline
    improvements: dict[tuple[str, str], Improvement] = field(default_factory=dict)  # (dataset, model)
    family: dict[str, int] = field(default_factory=dict)  # dataset → tests behind its improvement column


def is_flexcode(model: str) -> bool:
    return model == FLEXCODE or model.startswith(f"{FLEXCODE}-")


def paper_table(report: Report) -> PaperTable:
    """Arrange a report (overall metrics) as the paper layout and test each row against the strongest baseline."""
    metrics = sorted(report.metrics, key=_metric_order)
    primary = "ndcg@10" if "ndcg@10" in metrics else metrics[-1]
    models = sorted({row.model for row in report.rows}, key=lambda m: (not is_flexcode(m), m != FLEXCODE, m))
    table = PaperTable(report.datasets(), models, metrics, primary)
    settings = report.settings
    for dataset in table.datasets:
        aligned = report.sources.get(dataset)
        means = {row.model: row.overall[primary].mean for row in report.rows_for(dataset) if primary in row.overall}
        candidates = {m: v for m, v in means.items() if not is_flexcode(m) and math.isfinite(v)}
        strongest = max(sorted(candidates), key=candidates.get) if candidates else None
        table.strongest[dataset] = strongest
        if strongest is None or aligned is None:
            continue
        raw: list[Comparison] = []
        for model in sorted(means):
            if model != strongest:
                raw.append(compare(aligned.pooled(model, primary), aligned.pooled(strongest, primary), model=model,
                                   baseline=strongest, metric=primary, test=settings.test, alpha=settings.alpha,
                                   n_resamples=settings.n_resamples, seed=0))  # fmt: skip
        for found in adjust_comparisons(raw, settings.correction, settings.alpha):
            table.improvements[(dataset, found.model)] = Improvement(found.rel_diff, found.significant)
        table.family[dataset] = len(raw)
    return table


def improvement_text(table: PaperTable, dataset: str, model: str, *, mark: str = "‡") -> str:
    found = table.improvements.get((dataset, model))
    if found is None or not math.isfinite(found.relative):
        return "—"
    return f"{found.relative * 100:+.1f}%" + (mark if found.significant else "")


def paper_caption(report: Report, table: PaperTable, *, mark: str = "†", improvement_mark: str = "‡") -> str:
    """Users and seeds per dataset, the test behind each marker, and where seed counts differ."""
    settings = report.settings
    test = TEST_LABELS[settings.test]
    correction = "uncorrected" if settings.correction == "none" else f"{CORRECTION_LABELS[settings.correction]} correction"
    per_dataset = []
    for dataset in table.datasets:
        info = report.tables.get(dataset)
        users = f"{info.n_users:,} {report.split} users" if info else "users not recorded"
        per_dataset.append(f"{dataset}: {users}, {seeds_text(report, dataset)}")
    parts = [
        f"{report.split.capitalize()} split, full ranking; best in bold. " + "; ".join(per_dataset) + ".",
    ]
    if settings.baseline is None:
        parts.append("No per-cell significance tests (no reference model chosen).")
    else:
        parts.append(
            f"{mark} = significantly different from {settings.baseline} (two-sided {test}, paired over identical users, "
            f"{correction} within each dataset, α = {settings.alpha:g})."
        )
    strongest = [f"{d}: {table.strongest[d]}" for d in table.datasets if table.strongest.get(d)]
    if strongest:
        parts.append(
            f"Δ = relative {pretty_metric(table.primary)} difference to the strongest baseline outside FlexCode "
            f"({'; '.join(strongest)}); {improvement_mark} = significant ({test}, {correction} per dataset, "
            f"α = {settings.alpha:g})."
        )
    uneven = [d for d in table.datasets if len({len(r.seeds) for r in report.rows_for(d)}) > 1]
    if uneven:
        parts.append(
            f"Seed counts differ within {', '.join(uneven)}: paired tests there compare each user's mean over "
            "the seeds each model has."
        )
    else:
        parts.append("Paired tests compare rows with equal seed counts (each user's mean over seeds).")
    protocols = {report.tables[d].protocol_summary.rsplit(" · ", 1)[0] for d in table.datasets if d in report.tables}
    if len(protocols) == 1:
        parts.append(f"Protocol: {protocols.pop()}.")
    return " ".join(parts)


def _metric_order(metric: str) -> tuple[int, int, str]:
    name, _, k = metric.partition("@")
    return (int(k) if k.isdigit() else 0, {"recall": 0, "hr": 0, "ndcg": 1, "mrr": 2}.get(name, 3), name)
