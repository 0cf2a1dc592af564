"""The runs of one dataset aligned user by user, so every paired test pairs the same users.

Every run of a dataset must have been evaluated on the same ``(split, user_id, target_item)`` set;
a mismatch means the runs saw different data and is an error naming both runs (DESIGN.md §3).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from flexcode_bench.errors import ConfigError, FlexbenchError
from flexcode_bench.registry import did_you_mean
from flexcode_bench.reporting import protocol as protocols
from flexcode_bench.results import RunRecord


@dataclass
class AlignedRuns:
    """Per-user metric values of every (model, seed) of one dataset, rows in one shared user order.

    Attributes:
        users: ``user_id``, ``target_item`` and ``bucket`` of each row (the bucket of the first run).
        scores: model → seed → frame of metric columns, row ``i`` being ``users`` row ``i``.
        records: model → its runs, sorted by seed.
        protocol: the protocol fields of the first run (see :func:`protocols.protocol_of`).
        mixed_fields: protocol fields on which the runs differ (non-empty only with allow_mixed).
    """

    dataset: str
    split: str
    users: pd.DataFrame
    scores: dict[str, dict[int, pd.DataFrame]]
    records: dict[str, list[RunRecord]]
    protocol: dict
    mixed_fields: list[str] = field(default_factory=list)

    @property
    def n_users(self) -> int:
        return len(self.users)

    def models(self) -> list[str]:
        return sorted(self.scores)

    def seeds(self, model: str) -> list[int]:
        return sorted(self.scores[model])

    def mask(self, bucket: str | None) -> np.ndarray:
        """Rows in ``bucket`` (all rows for None)."""
        if bucket is None:
            return np.ones(self.n_users, dtype=bool)
        return (self.users["bucket"] == bucket).to_numpy()

    def values(self, model: str, seed: int, metric: str, bucket: str | None = None) -> np.ndarray:
        """One seed's per-user values of ``metric`` (restricted to ``bucket``)."""
        return self.scores[model][seed][metric].to_numpy()[self.mask(bucket)]

    def pooled(self, model: str, metric: str, bucket: str | None = None) -> np.ndarray:
        """Per-user mean over the model's seeds: the paired sample when seeds are pooled."""
        stacked = np.stack([self.scores[model][seed][metric].to_numpy() for seed in self.seeds(model)])
        return stacked.mean(axis=0)[self.mask(bucket)]

    def seed_means(self, model: str, metric: str, bucket: str | None = None) -> np.ndarray:
        """Mean over users for each seed (the numbers whose mean ± std fills a table cell)."""
        return np.array([self.values(model, seed, metric, bucket).mean() for seed in self.seeds(model)])


def align_runs(runs: Sequence[RunRecord], *, split: str, metrics: Sequence[str], allow_mixed: bool = False) -> AlignedRuns:
    """Check that the runs of one dataset are comparable and align their per-user records.

    Raises:
        ConfigError: protocols differ (unless ``allow_mixed``) or a metric is missing from a run.
        FlexbenchError: two runs were evaluated on different users or targets; both are named.
    """
    runs = sorted(runs, key=lambda r: (r.model, r.seed))
    mixed = protocols.differing_fields(runs, allow_mixed=allow_mixed)
    reference, reference_keys = None, None
    scores: dict[str, dict[int, pd.DataFrame]] = defaultdict(dict)
    records: dict[str, list[RunRecord]] = defaultdict(list)
    for run in runs:
        frame = run.per_user
        frame = frame[frame["split"] == split].sort_values(["user_id", "target_item"], kind="stable")
        _check_metrics(run, frame, metrics)
        if reference is None:
            if frame.empty:
                raise FlexbenchError(f"run {run.path} has no {split} users", hint="choose the other --split")
            reference, reference_keys = run, frame[["user_id", "target_item", "bucket"]].reset_index(drop=True)
        else:
            _check_same_users(reference, reference_keys, run, frame, split)
        scores[run.model][run.seed] = frame[list(metrics)].reset_index(drop=True)
        records[run.model].append(run)
    return AlignedRuns(
        dataset=runs[0].dataset, split=split, users=reference_keys, scores=dict(scores), records=dict(records),
        protocol=protocols.protocol_of(reference), mixed_fields=mixed,
    )  # fmt: skip


def _check_metrics(run: RunRecord, frame: pd.DataFrame, metrics: Sequence[str]) -> None:
    available = [c for c in frame.columns if "@" in c]
    for metric in metrics:
        if metric not in available:
            raise ConfigError(
                f"metric {metric!r} is not in run {run.path}{did_you_mean(metric, available)}",
                hint=f"choose among {', '.join(available)}",
            )


def _check_same_users(reference: RunRecord, keys: pd.DataFrame, run: RunRecord, frame: pd.DataFrame, split: str) -> None:
    users, targets = frame["user_id"].to_numpy(), frame["target_item"].to_numpy()
    if len(users) == len(keys) and np.array_equal(users, keys["user_id"]) and np.array_equal(targets, keys["target_item"]):
        return
    if len(users) != len(keys):
        detail = f"{len(keys):,} vs {len(users):,} {split} users"
    else:
        i = int(np.flatnonzero((users != keys["user_id"].to_numpy()) | (targets != keys["target_item"].to_numpy()))[0])
        detail = (
            f"first difference: (user {keys['user_id'].iat[i]}, target {keys['target_item'].iat[i]}) "
            f"vs (user {users[i]}, target {targets[i]})"
        )
    raise FlexbenchError(
        f"runs {reference.path} and {run.path} were evaluated on different {split} users or targets ({detail}); "
        "paired tests need identical users",
        hint="re-run both on the same prepared data (flexbench run --force), or report them separately with --dataset/--model",
    )
