"""Prefix trie of the valid item codes, stored as a few dense tensors per level.

Constrained beam search asks two questions of every beam at every step: *which tokens may come
next?* and *which node does this token lead to?* Both must be one tensor op over all beams at once
(never a Python loop), on the device the model runs on.

Nodes. Level ``l`` holds one node per distinct code prefix of length ``l``: level 0 is the root,
level ``depth`` holds one leaf per item. Nodes of a level are numbered in lexicographic order of
their prefixes, so (parent, token) pairs of the children of level ``l`` are sorted too.

Per level ``l < depth`` the trie keeps
- ``columns[l]``: the sorted token ids that occur at position ``l`` of some code (W_l of them), and
  ``token_column[l]``: a ``[vocab_size]`` map from token id to its column there (-1 if absent);
- ``next_mask[l]``: bool ``[n_nodes_l, W_l]``, which columns continue each node. ``allowed`` is a
  row gather plus a column scatter into ``[n, vocab_size]``;
- ``child_keys[l]``: sorted int64 ``parent * W_l + column`` of every node of level ``l + 1``; the
  index of a key *is* the child's node id, so ``step`` is one ``searchsorted``.

Why this layout: a naive ``[n_nodes, vocab_size]`` int32 child table per level costs
``Σ_l n_nodes_l · V · 4`` bytes. For a Beauty-size catalogue (12,101 items, 3 levels × 256 codes +
a collision token; ~1 + 256 + 11.1k + 12.1k nodes above the leaves; V ≈ 2,800 with 2,000 user-hash
tokens) that is ~260 MB. Restricting the mask to the W_l tokens that occur at each level (256 here,
a few for the collision level, at most a few hundred for FlexCode's mixed CF/semantic levels) and
storing bools instead of child ids brings it to ~3 MB of masks plus ~0.3 MB of keys. The masks grow
as ``n_items · W_l`` bytes, fine up to ~10^5–10^6 items; past that a CSR layout (children as
ranges of the sorted keys) would trade the row gather for a ``repeat_interleave``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


class PrefixTrie:
    """The set of valid codes (rows of ``codes``) as a trie; see the module docstring."""

    def __init__(self, codes: np.ndarray, vocab_size: int) -> None:
        codes = np.asarray(codes, dtype=np.int64)
        if codes.ndim != 2 or codes.shape[0] == 0 or codes.shape[1] == 0:
            raise ValueError(f"codes must be a non-empty [n_items, depth] array, got shape {codes.shape}")
        if codes.min() < 0 or codes.max() >= vocab_size:
            raise ValueError(f"code tokens must lie in [0, {vocab_size}), got [{codes.min()}, {codes.max()}]")
        self.n_items, self.depth = codes.shape
        self.vocab_size = vocab_size

        order = np.lexsort(codes.T[::-1])  # rows sorted lexicographically, first column most significant
        sorted_codes = codes[order]
        if self.n_items > 1 and not np.any(sorted_codes[1:] != sorted_codes[:-1], axis=1).all():
            raise ValueError("codes must be unique per item (add a collision token to separate duplicates)")

        # node_of_row[l][r]: node id at level l of sorted row r. A new node starts wherever the
        # length-l prefix differs from the previous row's.
        differs = np.zeros((self.n_items, self.depth), dtype=bool)
        differs[1:] = sorted_codes[1:] != sorted_codes[:-1]
        new_prefix = np.logical_or.accumulate(differs, axis=1)  # (n_items, depth): prefix of length l+1 changed
        node_of_row = [np.zeros(self.n_items, dtype=np.int64)]
        for level in range(self.depth):
            starts = new_prefix[:, level].copy()
            starts[0] = True
            node_of_row.append(np.cumsum(starts) - 1)

        self.columns: list[torch.Tensor] = []
        self.token_column: list[torch.Tensor] = []
        self.next_mask: list[torch.Tensor] = []
        self.child_keys: list[torch.Tensor] = []
        for level in range(self.depth):
            columns = np.unique(sorted_codes[:, level])
            token_column = np.full(vocab_size, -1, dtype=np.int64)
            token_column[columns] = np.arange(len(columns))
            n_nodes = int(node_of_row[level][-1]) + 1
            first = np.flatnonzero(np.r_[True, np.diff(node_of_row[level + 1]) != 0])  # first row of each child
            parent = node_of_row[level][first]
            column = token_column[sorted_codes[first, level]]
            mask = np.zeros((n_nodes, len(columns)), dtype=bool)
            mask[parent, column] = True
            self.columns.append(torch.from_numpy(columns))
            self.token_column.append(torch.from_numpy(token_column))
            self.next_mask.append(torch.from_numpy(mask))
            self.child_keys.append(torch.from_numpy(parent * len(columns) + column))  # sorted by construction

        leaf_item = np.empty(self.n_items, dtype=np.int64)
        leaf_item[node_of_row[self.depth]] = order
        self.leaf_item = torch.from_numpy(leaf_item)

    # ------------------------------------------------------------------ queries (all vectorised)

    def to(self, device: torch.device | str) -> PrefixTrie:
        """Move every table to ``device`` (in place; returns self for chaining)."""
        for tables in (self.columns, self.token_column, self.next_mask, self.child_keys):
            tables[:] = [t.to(device) for t in tables]
        self.leaf_item = self.leaf_item.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return self.leaf_item.device

    def root(self, n: int) -> torch.LongTensor:
        """``n`` copies of the root's node id (level 0)."""
        return torch.zeros(n, dtype=torch.long, device=self.device)

    def allowed(self, level: int, nodes: torch.LongTensor) -> torch.BoolTensor:
        """Bool ``[n, vocab_size]``: tokens that extend each level-``level`` node; none for node -1."""
        self._check_level(level)
        valid = nodes >= 0
        rows = self.next_mask[level][nodes.clamp(min=0)] & valid[:, None]  # (n, W_l)
        out = torch.zeros(nodes.shape[0], self.vocab_size, dtype=torch.bool, device=nodes.device)
        out[:, self.columns[level]] = rows  # scatter the level's columns into the full vocabulary
        return out

    def step(self, level: int, nodes: torch.LongTensor, tokens: torch.LongTensor) -> torch.LongTensor:
        """Child (level ``level + 1``) of each node along each token; -1 where the code leaves the trie."""
        self._check_level(level)
        in_vocab = (tokens >= 0) & (tokens < self.vocab_size)
        column = self.token_column[level][tokens.clamp(0, self.vocab_size - 1)]
        keys = self.child_keys[level]
        width = self.columns[level].numel()
        key = nodes * width + column
        index = torch.searchsorted(keys, key).clamp(max=keys.numel() - 1)
        found = in_vocab & (nodes >= 0) & (column >= 0) & (keys[index] == key)
        return torch.where(found, index, torch.full_like(index, -1))

    def items(self, leaves: torch.LongTensor) -> torch.LongTensor:
        """Item id (row of ``codes``) of each leaf (level-``depth`` node); -1 for leaf -1."""
        item = self.leaf_item[leaves.clamp(min=0)]
        return torch.where(leaves >= 0, item, torch.full_like(item, -1))

    def contains(self, code: Sequence[int]) -> bool:
        """Whether ``code`` is exactly one item's full code."""
        if len(code) != self.depth:
            return False
        node = self.root(1)
        for level, token in enumerate(code):
            node = self.step(level, node, torch.tensor([int(token)], device=self.device))
        return bool(node.item() >= 0)

    def nbytes(self) -> int:
        """Memory held by the trie's tables."""
        tables = [*self.columns, *self.token_column, *self.next_mask, *self.child_keys, self.leaf_item]
        return sum(t.numel() * t.element_size() for t in tables)

    def _check_level(self, level: int) -> None:
        if not 0 <= level < self.depth:
            raise ValueError(f"level must be in [0, {self.depth}), got {level}")
