"""The token vocabulary: one contiguous id range per named block.

Every (codebook, level) pair has its own range, so a token id says which codebook and level it
came from (FlexCode needs that: an item's code mixes collaborative and semantic tokens). Special
tokens come first; user-hash tokens and the collision token have ranges of their own.

>>> vocab = Vocabulary()
>>> sem0 = vocab.add(("semantic", 0), 256)
>>> vocab.token(("semantic", 0), 5)
7
>>> vocab.block_of(7)
(('semantic', 0), 5)
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np

PAD = 0  # padding in encoder inputs and decoder targets
BOS = 1  # decoder start token
N_SPECIAL = 2


@dataclass
class Vocabulary:
    """Named, non-overlapping id ranges after the special tokens."""

    blocks: dict[Hashable, tuple[int, int]] = field(default_factory=dict)  # name -> (start, size)
    size: int = N_SPECIAL

    def add(self, name: Hashable, size: int) -> int:
        """Reserve ``size`` ids for ``name``; returns the first id."""
        if name in self.blocks:
            raise ValueError(f"vocabulary block {name!r} already exists")
        if size <= 0:
            raise ValueError(f"vocabulary block {name!r} needs a positive size, got {size}")
        start = self.size
        self.blocks[name] = (start, size)
        self.size += size
        return start

    def token(self, name: Hashable, code: int | np.ndarray) -> int | np.ndarray:
        start, size = self.blocks[name]
        if np.any(np.asarray(code) < 0) or np.any(np.asarray(code) >= size):
            raise ValueError(f"code out of range for block {name!r} of size {size}")
        return start + code

    def block_of(self, token: int) -> tuple[Hashable, int]:
        """(block name, code within the block) of a token id."""
        for name, (start, size) in self.blocks.items():
            if start <= token < start + size:
                return name, token - start
        raise ValueError(f"token {token} is special or outside the vocabulary")

    def range_of(self, name: Hashable) -> range:
        start, size = self.blocks[name]
        return range(start, start + size)
