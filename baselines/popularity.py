"""Most-popular baseline: every user gets the items ranked by training-split frequency.

A sanity floor for any table (a sequential model that does not beat it is broken) and the fastest
model for end-to-end tests of the runner and the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from flexcode_bench.config import resolve_dataclass
from flexcode_bench.data.prepared import PreparedDataset
from flexcode_bench.recommender import FitResult, OnEpoch


@dataclass(frozen=True)
class PopularityConfig:
    pass


PROFILES: dict[str, dict[str, Any]] = {"smoke": {}, "quick": {}, "cpu": {}, "paper": {}}


class Popularity:
    def __init__(self, config: PopularityConfig) -> None:
        self.config = config
        self._scores: np.ndarray | None = None

    def fit(self, data: PreparedDataset, *, device: str, seed: int, on_epoch: OnEpoch | None = None) -> FitResult:
        # Training counts only: validation and test interactions never inform the ranking.
        self._scores = data.train_counts.astype(np.float32)
        return FitResult(epochs=[], best_epoch=0, best_valid_metric=None)

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        if self._scores is None:
            raise RuntimeError("Popularity.score called before fit")
        return np.broadcast_to(self._scores, (len(histories), len(self._scores))).copy()


def build(profile: str, overrides: Mapping[str, Any]) -> Popularity:
    return Popularity(resolve_dataclass(PopularityConfig, PROFILES, profile, overrides))
