"""Every model against the baseline, per metric (and bucket), corrected as one family per table.

The family is all the (model vs baseline) × metric (× bucket when the table has bucket columns)
comparisons of one dataset's table — and × seed when seeds are compared one by one — because
that is the set of cells a reader scans for markers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flexcode_bench.evaluation.significance import Comparison, adjust_comparisons, compare
from flexcode_bench.reporting.aligned import AlignedRuns

SEED_MODES = ("pool", "per-seed")


@dataclass(frozen=True)
class Settings:
    """How a report compares models. See :func:`flexcode_bench.reporting.report.build_report`."""

    baseline: str | None = "flexcode"
    test: str = "ttest"
    correction: str = "holm"
    alpha: float = 0.05
    seeds: str = "pool"
    allow_mixed: bool = False
    n_resamples: int = 10_000


def table_comparisons(
    aligned: AlignedRuns, *, metrics: Sequence[str], buckets: Sequence[str | None], settings: Settings
) -> tuple[list[Comparison], list[str]]:
    """The corrected comparisons of one dataset's table, and notes on what could not be compared."""
    baseline = settings.baseline
    if baseline is None:
        return [], []
    if baseline not in aligned.scores:
        present = ", ".join(aligned.models())
        return [], [f"{aligned.dataset}: baseline {baseline!r} has no runs (models: {present}); no significance tests"]

    notes: list[str] = []
    raw: list[Comparison] = []
    for model in aligned.models():
        if model == baseline:
            continue
        plan: list[int | None] = [None]  # None: seeds pooled per user
        if settings.seeds == "per-seed":
            plan = sorted(set(aligned.seeds(model)) & set(aligned.seeds(baseline)))
            unpaired = sorted(set(aligned.seeds(model)) ^ set(aligned.seeds(baseline)))
            if unpaired:
                notes.append(f"{aligned.dataset}: seeds {unpaired} of {model} or {baseline} have no counterpart; not compared")
        for run_seed in plan:
            for bucket in buckets:
                if not aligned.mask(bucket).any():
                    continue
                for metric in metrics:
                    a = _sample(aligned, model, run_seed, metric, bucket)
                    b = _sample(aligned, baseline, run_seed, metric, bucket)
                    # seed=0 for every comparison: each one is reproducible on its own.
                    found = compare(a, b, model=model, baseline=baseline, metric=metric, bucket=bucket,
                                    test=settings.test, alpha=settings.alpha, n_resamples=settings.n_resamples,
                                    seed=0, run_seed=run_seed)  # fmt: skip
                    raw.append(found)
    return adjust_comparisons(raw, settings.correction, settings.alpha), notes


def _sample(aligned: AlignedRuns, model: str, run_seed: int | None, metric: str, bucket: str | None):
    if run_seed is None:
        return aligned.pooled(model, metric, bucket)
    return aligned.values(model, run_seed, metric, bucket)
