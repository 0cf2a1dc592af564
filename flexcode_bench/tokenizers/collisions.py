"""Item codes as global token ids, with a final collision token that makes every item's code unique.

Quantisers give each item a tuple of *local* codes (one per position). Two items can get the same
tuple; TIGER appends a token 0, 1, 2, ... within each such group so every item keeps a unique,
decodable ID. Here each position's local code becomes a *global* token id from the
:class:`~flexcode_bench.tokenizers.vocabulary.Vocabulary` block it belongs to, and the collision
index becomes a token of its own block, so the generator and the prefix trie only ever see one id
space.

A position names its block either once for all items (TIGER: position l is ``("semantic", l)``)
or per item (FlexCode: position p is ``("cf", p)`` for an item with more than p CF tokens and
``("semantic", p - k)`` for an item with k CF tokens). Every block keeps its own id range, so
identical local codes from different blocks are different tokens and never collide.

>>> import numpy as np
>>> codes = build_item_codes([("a", np.array([0, 0, 1])), ("b", np.array([2, 2, 2]))])
>>> codes.tokens.tolist()  # ids 0, 1 are PAD/BOS; "a" = 2..3, "b" = 4..6, "collision" = 7..8
[[2, 6, 7], [2, 6, 8], [3, 6, 7]]
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from flexcode_bench.tokenizers.vocabulary import Vocabulary

# Per position: one block name for every item, or a list / numpy array of names, one per item.
# A tuple is always read as ONE name (block names such as ("semantic", 0) are tuples).
BlockSpec = Hashable | Sequence[Hashable] | np.ndarray


@dataclass
class ItemCodes:
    """Global token ids of every item's code; ``tokens[i]`` is item i's full ID, collision token last."""

    tokens: np.ndarray  # int64 [n_items, depth]
    vocabulary: Vocabulary
    collision_block: Hashable = "collision"
    _item_of_code: dict[tuple[int, ...], int] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.tokens = np.asarray(self.tokens, dtype=np.int64)
        if self.tokens.ndim != 2 or self.tokens.shape[1] < 1:
            raise ValueError(f"tokens must be [n_items, depth >= 1], got shape {self.tokens.shape}")
        if self.collision_block not in self.vocabulary.blocks:
            raise ValueError(f"the vocabulary has no collision block {self.collision_block!r}")

    @property
    def n_items(self) -> int:
        return self.tokens.shape[0]

    @property
    def depth(self) -> int:
        return self.tokens.shape[1]

    def item_of_code(self) -> dict[tuple[int, ...], int]:
        """Full token tuple -> item id (built once); raises if two items share a full code."""
        if self._item_of_code is None:
            lookup = {tuple(row): item for item, row in enumerate(self.tokens.tolist())}
            if len(lookup) != self.n_items:
                raise ValueError(f"{self.n_items - len(lookup)} items share a full code with another item")
            self._item_of_code = lookup
        return self._item_of_code

    def collision_stats(self) -> dict:
        """How many items needed the collision token to stay distinct.

        ``collision_rate`` is the share of items whose pre-collision code (all tokens but the last)
        is shared with at least one other item; ``largest_group`` is the most items sharing one.
        """
        _, counts = _groups(self.tokens[:, :-1])
        start = self.vocabulary.blocks[self.collision_block][0]
        colliding = counts[counts > 1]
        return {
            "n_items": self.n_items,
            "n_unique_codes": len(counts),
            "collision_rate": float(colliding.sum() / self.n_items) if self.n_items else 0.0,
            "n_colliding_groups": len(colliding),
            "largest_group": int(counts.max()) if len(counts) else 0,
            "max_collision_index": int(self.tokens[:, -1].max() - start) if self.n_items else 0,
        }


def assign_collision_tokens(codes: np.ndarray) -> np.ndarray:
    """int64 [n]: 0, 1, 2, ... within each group of identical rows of ``codes`` [n, L], in item order.

    >>> assign_collision_tokens(np.array([[1, 2], [3, 4], [1, 2], [1, 2]])).tolist()
    [0, 0, 1, 2]
    """
    codes = np.asarray(codes)
    codes = codes[:, None] if codes.ndim == 1 else codes  # [n] -> [n, 1]
    inverse, counts = _groups(codes)
    order = np.argsort(inverse, kind="stable")  # items grouped, item order kept within a group
    group_start = np.repeat(np.cumsum(counts) - counts, counts)  # [n] first sorted slot of each item's group
    out = np.empty(len(codes), dtype=np.int64)
    out[order] = np.arange(len(codes)) - group_start
    return out


def build_item_codes(
    level_codes: Sequence[tuple[BlockSpec, np.ndarray]],
    vocabulary: Vocabulary | None = None,
    collision_block: Hashable = "collision",
) -> ItemCodes:
    """Turn per-position (block, local codes) into unique global item IDs with a collision token.

    Args:
        level_codes: one ``(block, codes)`` per position; ``codes`` is int [n_items]. ``block`` is
            one block name for all items, or a list / 1-D numpy object array of names, one per
            item (a tuple is a single name).
        vocabulary: extended **in place** and returned in ``ItemCodes.vocabulary``. Blocks it
            already has are used as they are (a code beyond a block's size is an error); missing
            blocks are added sized to their largest code + 1, so pass a vocabulary with the full
            codebook ranges reserved when the trained model must accept unseen codes. The
            collision block is added with size max collision index + 1 (at least 1), or reused
            when present and large enough. ``None`` starts an empty vocabulary.
        collision_block: name of the collision token's block.
    """
    if not level_codes:
        raise ValueError("build_item_codes needs at least one code position")
    n = len(np.asarray(level_codes[0][1]))
    if n == 0:
        raise ValueError("build_item_codes needs at least one item")
    vocabulary = Vocabulary() if vocabulary is None else vocabulary
    positions = [_position(block, codes, n) for block, codes in level_codes]

    # Reserve missing blocks first (in order of first appearance) so every id is known up front.
    needed: dict[Hashable, int] = {}
    for names, ids, codes in positions:
        for j, name in enumerate(names):
            if name not in vocabulary.blocks:
                needed[name] = max(needed.get(name, 0), int(codes[ids == j].max()) + 1)
    for name, size in needed.items():
        vocabulary.add(name, size)

    body = np.empty((n, len(positions)), dtype=np.int64)  # [n_items, L] global tokens before the collision token
    for p, (names, ids, codes) in enumerate(positions):
        for j, name in enumerate(names):
            mask = ids == j
            body[mask, p] = vocabulary.token(name, codes[mask])

    # Collisions are counted on global tokens: equal local codes from different blocks are distinct.
    collision = assign_collision_tokens(body)
    size = int(collision.max()) + 1
    if collision_block not in vocabulary.blocks:
        vocabulary.add(collision_block, size)
    elif vocabulary.blocks[collision_block][1] < size:
        raise ValueError(f"collision block {collision_block!r} has {vocabulary.blocks[collision_block][1]} ids, {size} needed")
    tokens = np.concatenate([body, vocabulary.token(collision_block, collision)[:, None]], axis=1)
    return ItemCodes(tokens=tokens, vocabulary=vocabulary, collision_block=collision_block)


def _position(block: BlockSpec, codes: np.ndarray, n: int) -> tuple[list[Hashable], np.ndarray, np.ndarray]:
    """(distinct block names, int [n] index into them per item, int64 [n] local codes) of one position."""
    codes = np.asarray(codes)
    if codes.shape != (n,):
        raise ValueError(f"every position needs codes of shape ({n},), got {codes.shape}")
    if n and not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"codes must be integers, got dtype {codes.dtype}")
    codes = codes.astype(np.int64)
    if isinstance(block, (list, np.ndarray)):
        if np.ndim(block) != 1 and isinstance(block, np.ndarray):
            raise ValueError(f"per-item block names must be a list or 1-D object array, got shape {block.shape}")
        if len(block) != n:
            raise ValueError(f"per-item block names need one name per item ({n}), got {len(block)}")
        index: dict[Hashable, int] = {}
        ids = np.fromiter((index.setdefault(name, len(index)) for name in block), dtype=np.int64, count=n)
        return list(index), ids, codes
    return [block], np.zeros(n, dtype=np.int64), codes


def _groups(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group id [n] of each row, group sizes) for identical rows of ``codes`` [n, L]."""
    if codes.shape[1] == 0:  # no positions: every item shares the empty code
        return np.zeros(len(codes), dtype=np.int64), np.array([len(codes)] if len(codes) else [], dtype=np.int64)
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    return inverse.reshape(-1), counts
