"""The report object: per dataset, models × metrics as mean ± std over seeds, optionally per bucket.

Every number is derived from the per-user records in ``results/``: first a mean over users per
seed, then mean and sample standard deviation over seeds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flexcode_bench.errors import FlexbenchError

DEFAULT_METRICS = ("recall@5", "recall@10", "ndcg@5", "ndcg@10")
BUCKET_ORDER = ("head", "torso", "tail", "cold")


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


@dataclass
class Report:
    split: str
    metrics: tuple[str, ...]
    by_popularity: bool
    rows: list[ModelRow]
    bucket_sizes: dict[str, dict[str, int]]  # dataset → bucket → number of target users
    failed: list[str] = field(default_factory=list)

    def datasets(self) -> list[str]:
        return sorted({row.dataset for row in self.rows})

    def rows_for(self, dataset: str) -> list[ModelRow]:
        return [row for row in self.rows if row.dataset == dataset]

    def best(self, dataset: str, metric: str, bucket: str | None = None) -> str | None:
        """The model with the highest mean for a metric (bold in renderings)."""
        candidates = []
        for row in self.rows_for(dataset):
            cell = row.overall.get(metric) if bucket is None else row.by_bucket.get(bucket, {}).get(metric)
            if cell is not None and not np.isnan(cell.mean):
                candidates.append((cell.mean, row.model))
        return max(candidates)[1] if candidates else None

    def to_dict(self) -> dict:
        def cell(c: Cell) -> dict:
            return {"mean": c.mean, "std": c.std, "n_seeds": c.n_seeds}

        return {
            "split": self.split,
            "metrics": list(self.metrics),
            "by_popularity": self.by_popularity,
            "bucket_sizes": self.bucket_sizes,
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
            "failed_runs": self.failed,
        }


def build_report(
    results_dir: str | Path,
    *,
    datasets: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    by_popularity: bool = False,
    split: str = "test",
) -> Report:
    """Read every finished run under ``results_dir`` and summarise it."""
    from flexcode_bench.results import load_runs

    runs = load_runs(Path(results_dir), include_failed=True)
    failed = [str(r.path) for r in runs if r.status != "finished"]
    runs = [r for r in runs if r.status == "finished"]
    if datasets:
        runs = [r for r in runs if r.dataset in datasets]
    if models:
        runs = [r for r in runs if r.model in models]
    if not runs:
        raise FlexbenchError(
            f"no finished runs under {results_dir}" + (f" for {', '.join(datasets or [])}" if datasets else ""),
            hint="run `flexbench run --dataset ml-100k --model sasrec` first, or pass --results-dir",
        )

    grouped: dict[tuple[str, str], list] = defaultdict(list)
    for run in runs:
        grouped[(run.dataset, run.model)].append(run)

    rows, bucket_sizes = [], {}
    for (dataset, model), group in sorted(grouped.items()):
        frames = [r.per_user[r.per_user["split"] == split] for r in group]
        missing = [m for m in metrics if m not in frames[0].columns]
        if missing:
            raise FlexbenchError(f"metric(s) {missing} are not in the runs of {model} on {dataset}")
        row = ModelRow(dataset, model, sorted(r.seed for r in group), _cells([[f[m].mean() for f in frames] for m in metrics], metrics))
        if by_popularity:
            for bucket in BUCKET_ORDER:
                subsets = [f[f["bucket"] == bucket] for f in frames]
                if len(subsets[0]) == 0:
                    continue
                row.by_bucket[bucket] = _cells([[s[m].mean() for s in subsets] for m in metrics], metrics)
                bucket_sizes.setdefault(dataset, {})[bucket] = len(subsets[0])
        rows.append(row)
    return Report(split, tuple(metrics), by_popularity, rows, bucket_sizes, failed)


def _cells(per_metric_seed_means: list[list[float]], metrics: Sequence[str]) -> dict[str, Cell]:
    cells = {}
    for metric, values in zip(metrics, per_metric_seed_means):
        values = np.asarray(values, dtype=float)
        std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        cells[metric] = Cell(float(values.mean()), std, len(values))
    return cells
