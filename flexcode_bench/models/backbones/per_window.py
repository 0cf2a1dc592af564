"""TIGER's training layout (Rajput et al., 2023): one example per (user, position), each a window of
the previous ``max_history`` items encoded bidirectionally. Every target pays a full encoder pass."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from flexcode_bench.models.backbones import TrainingBatch
from flexcode_bench.models.generator import Generator, GeneratorConfig


def training_windows(
    sequences: Sequence[np.ndarray], max_history: int, per_user: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (user, position ≥ 1) of the training sequences: users [N], windows [N, max_history], targets [N].

    Windows hold the previous ``max_history`` item ids, left-padded with -1. ``per_user`` keeps only
    each user's most recent targets (long MovieLens histories would otherwise dominate an epoch).
    """
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    flat = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]) if len(sequences) else np.zeros(0, np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    users = np.repeat(np.arange(len(sequences)), np.maximum(lengths - 1, 0))
    positions = np.concatenate([np.arange(1, n) for n in lengths]) if len(sequences) else np.zeros(0, np.int64)
    absolute = starts[users] + positions  # index of each target in `flat`
    offsets = np.arange(-max_history, 0)  # (max_history,)
    index = absolute[:, None] + offsets[None, :]  # (N, max_history)
    valid = index >= starts[users][:, None]
    windows = np.where(valid, flat[np.clip(index, 0, None)], -1)
    keep = slice(None) if per_user is None else (lengths[users] - positions) <= per_user
    return users[keep].astype(np.int64), windows[keep], flat[absolute][keep]


@dataclass
class WindowSet:
    users: np.ndarray  # (N,)
    windows: np.ndarray  # (N, max_history)
    targets: np.ndarray  # (N,)

    @property
    def n_targets(self) -> int:
        return len(self.targets)

    def batches(self, rng: np.random.Generator, batch_size: int) -> Iterator[TrainingBatch]:
        order = rng.permutation(len(self.targets))
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            yield TrainingBatch(self.users[rows], self.windows[rows], self.targets[rows, None], prefix_rows=False)


class PerWindow:
    def network(self, config: GeneratorConfig) -> Generator:
        return Generator(replace(config, encoder_attention="bidirectional", cross_position_bias=False))

    def training_set(self, sequences: Sequence[np.ndarray], max_history: int, per_user: int | None) -> WindowSet:
        return WindowSet(*training_windows(sequences, max_history, per_user))


PER_WINDOW = PerWindow()
