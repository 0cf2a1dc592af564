"""Generator backbones by name: how a generative retriever turns training sequences into batches, and
which encoder attention its network uses. Both share the T5-style network of
:mod:`flexcode_bench.models.generator`, the item codes, the decoder and the beam search.

Adding a backbone is one file defining a :class:`Backbone` and one line here; its network may be any
module with the :class:`~flexcode_bench.decoding.GenerativeNetwork` methods that training and beam
search call (encode, decode, decode_step, and a cache with reorder).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from flexcode_bench.registry import Registry

if TYPE_CHECKING:
    from flexcode_bench.decoding import GenerativeNetwork
    from flexcode_bench.models.generator import GeneratorConfig


@dataclass(frozen=True)
class TrainingBatch:
    """One optimiser step's examples.

    ``windows`` (B, n) are source items (left-padded with -1) read by one encoder pass per row;
    ``targets`` (B, g) the items to predict from them (-1 = no target in that decoder row). With
    ``prefix_rows`` row j reads only the user token and window slots 0..j; otherwise every row
    reads the whole window.
    """

    users: np.ndarray
    windows: np.ndarray
    targets: np.ndarray
    prefix_rows: bool


class TrainingSet(Protocol):
    n_targets: int  # training targets per epoch: one (user, position) predicted

    def batches(self, rng: np.random.Generator, batch_size: int) -> Iterator[TrainingBatch]:
        """One epoch in a random order; ``batch_size`` counts targets."""
        ...


class Backbone(Protocol):
    def network(self, config: GeneratorConfig) -> GenerativeNetwork:
        """The network for ``config`` (sizes, vocabulary, source length), set up for this backbone."""
        ...

    def training_set(self, sequences: Sequence[np.ndarray], max_history: int, per_user: int | None) -> TrainingSet:
        """Every training target of ``sequences`` (each user's last ``per_user`` only, when set)."""
        ...


BACKBONES: Registry[Backbone] = Registry("backbone")
BACKBONES.register("per-window", "flexcode_bench.models.backbones.per_window:PER_WINDOW",
                   description="TIGER's encoder: one bidirectional pass over the last max_history items per target")
BACKBONES.register("all-targets", "flexcode_bench.models.backbones.all_targets:ALL_TARGETS",
                   description="one item-causal pass per user sequence; each target's decoder row reads its prefix")
BACKBONES.freeze()

__all__ = ["BACKBONES", "Backbone", "TrainingBatch", "TrainingSet"]
