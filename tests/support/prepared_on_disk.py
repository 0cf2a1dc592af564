"""Write a small dataset to disk through the real preprocessing path (``prepare_raw``), for runner and CLI tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from flexcode_bench.data.prepare import prepare_raw
from flexcode_bench.data.raw import RawDataset


def write_sequences(
    data_dir: Path, name: str, sequences: Sequence[Sequence[int]], *, texts: Sequence[str] | None = None
) -> Path:
    """Each sequence is one user's chronological item ids; no k-core filtering (k = 1)."""
    users = [str(u) for u, seq in enumerate(sequences) for _ in seq]
    items = [str(i) for seq in sequences for i in seq]
    stamps = [float(t) for seq in sequences for t in range(len(seq))]
    n_items = max(max(seq) for seq in sequences) + 1
    raw = RawDataset(
        interactions=pd.DataFrame({"user": users, "item": items, "timestamp": np.array(stamps)}),
        items=pd.DataFrame(
            {"item": [str(i) for i in range(n_items)], "title": list(texts or [f"item {i}" for i in range(n_items)])}
        ),
        has_timestamps=True,
        lines_read=len(users),
    )
    out_dir = Path(data_dir) / name
    prepare_raw(raw, name=name, out_dir=out_dir, k_core=1, template="title: {title}")
    return out_dir


def popular_head_sequences(n_users: int = 60, n_items: int = 30, length: int = 8, seed: int = 0) -> list[list[int]]:
    """Random sequences skewed towards low item ids, so head, torso and tail buckets are all populated."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_items + 1)
    weights /= weights.sum()
    return [rng.choice(n_items, size=length, replace=False, p=weights).tolist() for _ in range(n_users)]
