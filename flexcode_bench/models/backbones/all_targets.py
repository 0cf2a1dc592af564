"""All targets of a sequence from one encoder pass, at a cost close to SASRec's.

The source is the hashed user token and then the codes of a user's items; encoder attention is causal
at item granularity (a token sees the user token and the tokens of its own and earlier items), so the
encoded prefix of items 0..j is exactly what encoding those items alone would give. Decoder row j
predicts item j+1 and cross-attends only to the user token and items 0..j. At inference the
whole history is encoded with the same mask and the decoder reads all of it: the last row's function.

Sequences longer than ``max_history`` + 1 items are cut into chunks from the end, consecutive chunks
sharing one item (the first item of a chunk is context only, and a target of the chunk before), so
every position ≥ 1 is a target exactly once and reads at most ``max_history`` items, as SASRec does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np

from flexcode_bench.models.backbones import TrainingBatch
from flexcode_bench.models.generator import Generator, GeneratorConfig


def sequence_chunks(length: int, max_history: int) -> list[tuple[int, int]]:
    """[start, end) of each chunk of a sequence of ``length`` items, latest first."""
    chunks, end = [], length
    while end >= 2:
        start = max(0, end - max_history - 1)
        chunks.append((start, end))
        if start == 0:
            break
        end = start + 1
    return chunks


@dataclass
class ChunkSet:
    users: np.ndarray  # (C,)
    items: list[np.ndarray]  # C chunks of 2..max_history+1 items
    first_target: np.ndarray  # (C,) index in the chunk of its first trained target (≥ 1)

    @property
    def n_targets(self) -> int:
        return int(sum(len(c) - f for c, f in zip(self.items, self.first_target)))

    def batches(self, rng: np.random.Generator, batch_size: int) -> Iterator[TrainingBatch]:
        lengths = np.array([len(c) for c in self.items])
        # chunks of similar length share a batch (little padding), in a random order within a length
        order = np.lexsort((rng.random(len(lengths)), lengths))
        groups, current, targets = [], [], 0
        for c in order:
            current.append(c)
            targets += lengths[c] - self.first_target[c]
            if targets >= batch_size:
                groups.append(current)
                current, targets = [], 0
        if current:
            groups.append(current)
        for g in rng.permutation(len(groups)):
            yield self._batch(np.array(groups[g]))

    def _batch(self, rows: np.ndarray) -> TrainingBatch:
        lengths = np.array([len(self.items[c]) for c in rows])
        n = lengths.max()
        padded = np.full((len(rows), n), -1, dtype=np.int64)  # left-padded, as inference windows are
        for i, c in enumerate(rows):
            padded[i, n - lengths[i] :] = self.items[c]
        targets = padded[:, 1:].copy()  # (B, n-1): row j predicts slot j + 1 from slots 0..j
        in_chunk = np.arange(1, n)[None, :] - (n - lengths)[:, None]  # each target slot's index in its chunk
        targets[in_chunk < self.first_target[rows][:, None]] = -1  # padding, and context-only items
        return TrainingBatch(self.users[rows], padded[:, :-1], targets, prefix_rows=True)


class AllTargets:
    def network(self, config: GeneratorConfig) -> Generator:
        # An item-causal encoder cannot mark the latest item (it never sees what follows), so cross-attention
        # gets a learnt bias by distance from the end of what each row reads: recency, at any length.
        return Generator(replace(config, encoder_attention="item-causal", cross_position_bias=True))

    def training_set(self, sequences: Sequence[np.ndarray], max_history: int, per_user: int | None) -> ChunkSet:
        users, items, first = [], [], []
        for user, sequence in enumerate(sequences):
            sequence = np.asarray(sequence, dtype=np.int64)
            earliest = 1 if per_user is None else max(1, len(sequence) - per_user)  # first trained position
            for start, end in sequence_chunks(len(sequence), max_history):
                if end <= earliest:
                    break
                users.append(user)
                items.append(sequence[start:end])
                first.append(max(1, earliest - start))
        return ChunkSet(np.array(users, dtype=np.int64), items, np.array(first, dtype=np.int64))


ALL_TARGETS = AllTargets()
