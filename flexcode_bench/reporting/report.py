"""The report object: per dataset, models × metrics as mean ± std over seeds, optionally per bucket,
with every model compared against a baseline by paired tests over identical users.

Every number is derived from the per-user records in ``results/``: a cell is the mean over users
per seed, then mean and sample standard deviation over seeds; tests pair users (DESIGN.md §3).

Example:
    >>> from flexcode_bench.reporting.render import render
    >>> report = build_report("results", ks=[10], by_popularity=True, test="randomization")  # doctest: +SKIP
    >>> print(render(report, "latex"))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flexcode_bench.errors import ConfigError, FlexbenchError
from flexcode_bench.evaluation.significance import CORRECTIONS, TESTS, Comparison, check_choice
from flexcode_bench.reporting import protocol as protocols
from flexcode_bench.reporting.aligned import AlignedRuns, align_runs
from flexcode_bench.reporting.comparisons import SEED_MODES, Settings, table_comparisons

DEFAULT_METRICS = ("recall@5", "recall@10", "ndcg@5", "ndcg@10")
# A bucket table repeats every metric for overall + four buckets; the @10 pair keeps it to one page width.
DEFAULT_BUCKET_METRICS = ("recall@10", "ndcg@10")
BUCKET_ORDER = ("head", "torso", "tail", "cold")
SPLITS = ("test", "valid")


@dataclass(frozen=True)
class Cell:
    mean: float
    std: float
    n_seeds: int


@dataclass
class ModelRow:
    dataset: str
    model: str
    seeds: list[int]
    overall: dict[str, Cell]
    by_bucket: dict[str, dict[str, Cell]] = field(default_factory=dict)

    def cell(self, metric: str, bucket: str | None = None) -> Cell | None:
        return self.overall.get(metric) if bucket is None else self.by_bucket.get(bucket, {}).get(metric)


@dataclass
class TableInfo:
    """What a dataset's caption states: protocol, users, the test family and notes."""

    protocol: dict
    protocol_summary: str
    n_users: int
    family_size: int
    mixed_fields: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    split: str
    metrics: tuple[str, ...]
    by_popularity: bool
    rows: list[ModelRow]
    bucket_sizes: dict[str, dict[str, int]]  # dataset → bucket → number of target users
    failed: list[str] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    tables: dict[str, TableInfo] = field(default_factory=dict)
    comparisons: dict[str, list[Comparison]] = field(default_factory=dict)  # dataset → corrected family
    # The aligned per-user records, kept for plots (bootstrap intervals, diagnostics); never serialised.
    sources: dict[str, AlignedRuns] = field(default_factory=dict, repr=False, compare=False)
    # dataset → runs left out (unreadable files, or another config than the one used; see reporting.selection)
    left_out: dict[str, list[str]] = field(default_factory=dict)

    def datasets(self) -> list[str]:
        return sorted({row.dataset for row in self.rows})

    def rows_for(self, dataset: str) -> list[ModelRow]:
        return [row for row in self.rows if row.dataset == dataset]

    def columns(self, dataset: str) -> list[tuple[str | None, str]]:
        """(bucket, metric) of each value column: overall first, then each bucket present."""
        columns: list[tuple[str | None, str]] = [(None, m) for m in self.metrics]
        if self.by_popularity:
            columns += [(b, m) for b in self.bucket_sizes.get(dataset, {}) for m in self.metrics]
        return columns

    def best(self, dataset: str, metric: str, bucket: str | None = None) -> str | None:
        """The model with the highest mean for a metric (bold in renderings)."""
        best = self.best_models(dataset, metric, bucket)
        return best[0] if best else None

    def best_models(self, dataset: str, metric: str, bucket: str | None = None) -> list[str]:
        """Every model tied (to 1e-12) for the highest mean: all of them are bold.

        A column where every model ties (often all zeros in the cold bucket) has no best: bolding
        it would claim a win nobody had.
        """
        means = {}
        for row in self.rows_for(dataset):
            cell = row.cell(metric, bucket)
            if cell is not None and not np.isnan(cell.mean):
                means[row.model] = cell.mean
        if not means:
            return []
        top = max(means.values())
        best = sorted(model for model, mean in means.items() if top - mean <= 1e-12)
        return best if len(best) < len(means) or len(means) == 1 else []

    def comparisons_for(self, dataset: str, model: str, metric: str, bucket: str | None = None) -> list[Comparison]:
        """The model-vs-baseline comparisons behind one cell (one, or one per seed with seeds="per-seed")."""
        return [
            c for c in self.comparisons.get(dataset, []) if c.model == model and c.metric == metric and c.bucket == bucket
        ]

    def significant(self, dataset: str, model: str, metric: str, bucket: str | None = None) -> bool:
        """Whether a cell carries the marker: significant after correction (in every seed, per seed)."""
        found = self.comparisons_for(dataset, model, metric, bucket)
        return bool(found) and all(c.significant for c in found)

    def to_dict(self) -> dict:
        def cell(c: Cell) -> dict:
            return {"mean": c.mean, "std": c.std, "n_seeds": c.n_seeds}

        return _json_safe({
            "split": self.split,
            "metrics": list(self.metrics),
            "by_popularity": self.by_popularity,
            "settings": dataclasses.asdict(self.settings),
            "bucket_sizes": self.bucket_sizes,
            "tables": {dataset: dataclasses.asdict(info) for dataset, info in self.tables.items()},
            "rows": [
                {
                    "dataset": r.dataset,
                    "model": r.model,
                    "seeds": r.seeds,
                    "overall": {m: cell(c) for m, c in r.overall.items()},
                    "by_bucket": {b: {m: cell(c) for m, c in cells.items()} for b, cells in r.by_bucket.items()},
                }
                for r in self.rows
            ],
            "comparisons": [
                {"dataset": dataset, **dataclasses.asdict(c)} for dataset, found in self.comparisons.items() for c in found
            ],
            "failed_runs": self.failed,
            "left_out_runs": self.left_out,
        })  # fmt: skip


def build_report(
    results_dir: str | Path,
    *,
    datasets: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    ks: Sequence[int] | None = None,
    by_popularity: bool = False,
    split: str = "test",
    baseline_model: str | None = "flexcode",
    test: str = "ttest",
    correction: str = "holm",
    alpha: float = 0.05,
    seeds: str = "pool",
    allow_mixed: bool = False,
    n_resamples: int = 10_000,
) -> Report:
    """Read every finished run under ``results_dir``, summarise it and compare models with a baseline.

    Args:
        metrics: metric columns to show (default recall@5, recall@10, ndcg@5, ndcg@10; with
            ``by_popularity`` recall@10 and ndcg@10, repeated for overall and each bucket).
        ks: shortcut for Recall@K and NDCG@K at these K; give ``metrics`` or ``ks``, not both.
        baseline_model: compared against every other model of its dataset; None, or absent from a
            dataset's runs, means no tests there (with a note).
        test: ``"ttest"`` (paired t-test), ``"randomization"`` (sign-flip) or ``"wilcoxon"``.
        correction: ``"holm"``, ``"bh"`` (Benjamini–Hochberg) or ``"none"``, across one table's comparisons.
        seeds: ``"pool"`` (per user, the mean over seeds is the paired sample) or ``"per-seed"``
            (seed s of the model against seed s of the baseline, each one reported).
        allow_mixed: put runs made under different protocols in one table (otherwise an error).
        n_resamples: resamples of the randomization test and of the bootstrap intervals.

    Raises:
        FlexbenchError: no finished run matches, or two runs of a dataset saw different users.
        ConfigError: a bad option, a missing metric, or mixed protocols without ``allow_mixed``.
    """
    from flexcode_bench import console
    from flexcode_bench.reporting.selection import broken_notes, select_runs
    from flexcode_bench.results import load_runs

    metrics = _resolve_metrics(metrics, ks, by_popularity=by_popularity)
    check_choice(split, SPLITS, "split")
    check_choice(test, TESTS, "test")
    check_choice(correction, CORRECTIONS, "correction")
    check_choice(seeds, SEED_MODES, "seed handling")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha!r}", hint="the usual choice is 0.05")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ConfigError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    settings = Settings(baseline_model, test, correction, float(alpha), seeds, allow_mixed, n_resamples)

    broken: list[tuple[Path, str]] = []
    runs = load_runs(Path(results_dir), include_failed=True, broken=broken)
    failed = [str(r.path) for r in runs if r.status != "finished"]
    runs, left_out = select_runs([r for r in runs if r.status == "finished"])
    for dataset, notes in broken_notes(broken).items():
        left_out[dataset] = notes + left_out.get(dataset, [])
    for folder, problem in broken:
        console.warning(f"left out {folder}: {problem}")
    if datasets:
        runs = [r for r in runs if r.dataset in datasets]
    if models:
        runs = [r for r in runs if r.model in models]
    if not runs:
        raise FlexbenchError(
            f"no finished runs under {results_dir}" + (f" for {', '.join(datasets or [])}" if datasets else ""),
            hint="run `flexbench run --dataset ml-100k --model sasrec` first, or pass --results-dir",
        )

    by_dataset: dict[str, list] = defaultdict(list)
    for run in runs:
        by_dataset[run.dataset].append(run)
    report = Report(split, tuple(metrics), by_popularity, [], {}, failed, settings, left_out=left_out)
    for dataset, group in sorted(by_dataset.items()):
        aligned = align_runs(group, split=split, metrics=metrics, allow_mixed=allow_mixed)
        _add_table(report, aligned)
    return report


def _add_table(report: Report, aligned: AlignedRuns) -> None:
    dataset, metrics = aligned.dataset, report.metrics
    present = [b for b in BUCKET_ORDER if aligned.mask(b).any()]
    if report.by_popularity:
        report.bucket_sizes[dataset] = {b: int(aligned.mask(b).sum()) for b in present}
    for model in aligned.models():
        row = ModelRow(dataset, model, aligned.seeds(model), _cells(aligned, model, metrics, None))
        if report.by_popularity:
            row.by_bucket = {b: _cells(aligned, model, metrics, b) for b in present}
        report.rows.append(row)

    buckets: list[str | None] = [None, *present] if report.by_popularity else [None]
    found, notes = table_comparisons(aligned, metrics=metrics, buckets=buckets, settings=report.settings)
    report.comparisons[dataset] = found
    if aligned.mixed_fields:
        notes.insert(0, f"{dataset}: runs differ in protocol field(s) {', '.join(aligned.mixed_fields)} (allowed by allow_mixed)")
    report.tables[dataset] = TableInfo(
        protocol=aligned.protocol,
        protocol_summary=protocols.describe(
            aligned.protocol, n_users=aligned.n_users, split=aligned.split, mixed=aligned.mixed_fields
        ),
        n_users=aligned.n_users,
        family_size=sum(1 for c in found if math.isfinite(c.p_value)),
        mixed_fields=list(aligned.mixed_fields),
        notes=notes,
    )
    report.sources[dataset] = aligned


def _cells(aligned: AlignedRuns, model: str, metrics: Sequence[str], bucket: str | None) -> dict[str, Cell]:
    cells = {}
    for metric in metrics:
        values = aligned.seed_means(model, metric, bucket)
        std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        cells[metric] = Cell(float(values.mean()), std, len(values))
    return cells


def _resolve_metrics(metrics: Sequence[str] | None, ks: Sequence[int] | None, *, by_popularity: bool) -> list[str]:
    if metrics and ks:
        raise ConfigError("give metrics or ks, not both", hint="--k 10 is short for --metrics recall@10,ndcg@10")
    if ks:
        bad = [k for k in ks if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1]
        if bad:
            raise ConfigError(f"K must be a positive integer, got {bad}")
        ordered = sorted({int(k) for k in ks})
        return [f"recall@{k}" for k in ordered] + [f"ndcg@{k}" for k in ordered]
    if metrics:
        return list(dict.fromkeys(metrics))
    return list(DEFAULT_BUCKET_METRICS if by_popularity else DEFAULT_METRICS)


def _json_safe(value: Any) -> Any:
    """NaN and infinities become null: strict JSON has no NaN (e.g. rel_diff against a zero baseline)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value
