"""First-order Markov chain: score each item by how often it followed the user's last item in training.

The README's "Adding a model" example: this file, one registry line in flexcode_bench/models/__init__.py
and tests/baselines/test_markov.py. A cheap, strong floor on data with sequential patterns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from flexcode_bench.data.prepared import PreparedDataset
from flexcode_bench.models.spec import ModelSpec
from flexcode_bench.recommender import FitResult, OnEpoch


@dataclass(frozen=True)
class MarkovConfig:
    popularity_weight: float = 1e-3  # back-off: among items never seen after the last one, popular ones first


class Markov:
    def __init__(self, config: MarkovConfig) -> None:
        self.config = config

    def fit(self, data: PreparedDataset, *, device: str, seed: int, on_epoch: OnEpoch | None = None) -> FitResult:
        # Training sequences only: validation and test targets never inform the transitions.
        pairs = [(s[:-1], s[1:]) for s in data.train_sequences if len(s) > 1]
        src, dst = (np.concatenate([p[i] for p in pairs]) if pairs else np.zeros(0, np.int64) for i in (0, 1))
        self.transitions = csr_matrix((np.ones(len(src), np.float32), (src, dst)), shape=(data.n_items, data.n_items))
        self.popularity = (data.train_counts / max(int(data.train_counts.max()), 1)).astype(np.float32)
        return FitResult(epochs=[], best_epoch=0, best_valid_metric=None)

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        last = np.array([h[-1] if len(h) else 0 for h in histories], dtype=np.int64)
        follows = self.transitions[last].toarray() * np.array([[len(h) > 0] for h in histories], dtype=np.float32)
        return follows + self.config.popularity_weight * self.popularity


SPEC = ModelSpec(MarkovConfig, {"smoke": {}, "quick": {}, "cpu": {}, "paper": {}}, Markov)
