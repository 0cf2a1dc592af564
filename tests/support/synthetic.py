"""Build a real in-memory :class:`PreparedDataset` from per-user item sequences, for fast model tests.

Each sequence is one user's chronological items (0-based ids); the last item is the test target,
the one before it the validation target, the rest training (DESIGN §3 leave-one-out).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from flexcode_bench.data.prepared import PreparedDataset


def dataset_from_sequences(
    sequences: Sequence[Sequence[int]], n_items: int, name: str = "synthetic"
) -> PreparedDataset:
    rows = []
    for user, seq in enumerate(sequences):
        if len(seq) < 3:
            raise ValueError(f"user {user} needs at least 3 items (train, valid, test), got {len(seq)}")
        for pos, item in enumerate(seq):
            split = "test" if pos == len(seq) - 1 else "valid" if pos == len(seq) - 2 else "train"
            rows.append((user, int(item), float(pos), pos, split))
    inter = pd.DataFrame(rows, columns=["user", "item", "timestamp", "position", "split"])
    inter = inter.astype({"user": "int32", "item": "int32", "position": "int32"})
    train = inter[inter["split"] == "train"]
    counts = np.bincount(train["item"].to_numpy(), minlength=n_items).astype(np.int64)
    items = pd.DataFrame(
        {
            "item": np.arange(n_items, dtype=np.int32),
            "original_id": [f"i{i}" for i in range(n_items)],
            "text": [f"item {i}" for i in range(n_items)],
            "train_count": counts,
        }
    )
    users = pd.DataFrame(
        {
            "user": np.arange(len(sequences), dtype=np.int32),
            "original_id": [f"u{u}" for u in range(len(sequences))],
        }
    )
    return PreparedDataset(
        name=name,
        path=Path(f"<{name}>"),
        interactions=inter,
        users=users,
        items=items,
        stats={
            "n_users": len(sequences),
            "n_items": n_items,
            "n_interactions": len(inter),
        },
        manifest={"fingerprint": f"{name}-{len(inter)}"},
    )


def next_item_sequences(n_users: int = 200, n_items: int = 50, length: int = 20, seed: int = 0) -> list[list[int]]:
    """Deterministic rule i -> i+1 (mod n_items) from a random start per user."""
    starts = np.random.default_rng(seed).integers(0, n_items, size=n_users)
    return [[int((s + t) % n_items) for t in range(length)] for s in starts]
