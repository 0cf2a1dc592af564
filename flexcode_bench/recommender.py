"""The one protocol every model implements, so the runner and evaluator treat them alike.

A *scoring* model returns a full score matrix over the catalogue (SASRec, RecBole models,
:class:`ScoringRecommender`); any other model is *generative* and has
``recommend(users, histories, k) -> int64 [len(histories), k]``: distinct valid item ids, best
first, -1 padding a short list (TIGER, FlexCode; ``users`` are the rows' user ids). The evaluator
ranks either under the same protocol (DESIGN §3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from flexcode_bench.data.prepared import PreparedDataset


@dataclass
class EpochReport:
    """One epoch's numbers, passed to the progress callback and kept in the run's training curve."""

    epoch: int
    train_loss: float
    valid_metric: float | None  # the early-stopping metric (e.g. NDCG@10 on validation); None if not evaluated
    seconds: float
    extra: dict[str, float] = field(default_factory=dict)


OnEpoch = Callable[[EpochReport], None]


@dataclass
class FitResult:
    """What ``fit`` returns: the training curve, the best epoch and model-specific diagnostics."""

    epochs: list[EpochReport]
    best_epoch: int
    best_valid_metric: float | None
    diagnostics: dict = field(default_factory=dict)


@runtime_checkable
class ScoringRecommender(Protocol):
    def fit(self, data: PreparedDataset, *, device: str, seed: int, on_epoch: OnEpoch | None = None) -> FitResult: ...

    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """float32 [len(histories), n_items] scores over the full catalogue (higher is better)."""
        ...
