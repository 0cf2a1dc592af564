"""Constrained beam search over a prefix trie of valid item codes.

Every step is a handful of tensor ops over all users x beams at once: one incremental decoder
step (cached keys/values), log-softmax, the trie's next-token mask, and a single top-k over
beams x vocabulary per user. The encoder runs once per user; the decoder's cross-attention reads
that one memory for all of the user's beams (their queries are stacked, nothing is copied).

Scores are sums of full-vocabulary log-probabilities (the mask removes invalid tokens but does
not renormalise), as in TIGER and HF's ``prefix_allowed_tokens_fn``. Because each item's code is
unique (the collision token separates duplicates) and beams are distinct prefixes, the finished
beams are distinct valid items: no de-duplication or validity filtering is needed afterwards.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

import torch
import torch.nn.functional as F

from flexcode_bench.errors import ConfigError
from flexcode_bench.tokenizers.vocabulary import BOS, PAD

if TYPE_CHECKING:
    from collections.abc import Iterator

    from flexcode_bench.tokenizers.trie import PrefixTrie


class DecoderState(Protocol):
    def reorder(self, index: torch.Tensor) -> DecoderState:
        """Keep decoder rows ``index``; rows stay grouped by source (row // g = source)."""
        ...


class GenerativeNetwork(Protocol):
    """What training and beam search need of a network (:class:`~flexcode_bench.models.generator.Generator` is one)."""

    vocab_size: int

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        """Source tokens (B, S) -> memory (B, S, d)."""
        ...

    def decode(
        self, tgt_in: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor, row_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Teacher-forced logits (N, T, V) for N = g·B decoder rows grouped by source."""
        ...

    def decode_step(
        self, tokens: torch.Tensor, cache: DecoderState | None, memory: torch.Tensor, src_mask: torch.Tensor
    ) -> tuple[torch.Tensor, DecoderState]:
        """Next-token logits (N, V) for one more token per row, and the extended cache."""
        ...

    def train(self, mode: bool = True) -> GenerativeNetwork: ...

    def eval(self) -> GenerativeNetwork: ...


@contextmanager
def _eval_mode(model: torch.nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _check_devices(src: torch.Tensor, trie: PrefixTrie) -> None:
    if trie.device != src.device:
        raise ValueError(f"trie is on {trie.device} but src is on {src.device}; call trie.to(device) once")


def beam_search(
    model: GenerativeNetwork, src: torch.Tensor, trie: PrefixTrie, *, beam_size: int = 20, k: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` distinct valid items per user, best first.

    Args:
        model: the encoder-decoder; run in eval mode here (its training flag is restored).
        src: encoder inputs (U, S), PAD-padded, on the model's device.
        trie: the valid codes, on the same device.
        beam_size: beams kept per user at every step; must be >= ``k``.
        k: items returned per user.

    Returns:
        ``items`` int64 (U, k) (rows of the trie's codes) and ``scores`` float32 (U, k), the summed
        log-probabilities of their codes, descending.
    """
    if beam_size < k:
        raise ConfigError(f"beam_size ({beam_size}) must be >= k ({k}) to return k items", hint=f"use beam_size >= {k}")
    if trie.n_items < k:
        raise ConfigError(f"the catalogue has {trie.n_items} items, fewer than k = {k}")
    _check_devices(src, trie)
    U, V = src.shape[0], model.vocab_size
    with _eval_mode(model):
        src_mask = src != PAD
        memory = model.encode(src, src_mask)  # (U, S, d), once per user
        tokens = torch.full((U,), BOS, dtype=torch.long, device=src.device)
        nodes = trie.root(U)
        scores = torch.zeros(U, 1, device=src.device)  # (U, b): b = 1 beam before the first step
        user_offset = torch.arange(U, device=src.device)[:, None]
        cache = None
        for level in range(trie.depth):
            logits, cache = model.decode_step(tokens, cache, memory, src_mask)  # (U*b, V)
            logp = F.log_softmax(logits.float(), dim=-1)
            logp = logp.masked_fill(~trie.allowed(level, nodes), float("-inf"))
            b = scores.shape[1]
            candidates = (scores[:, :, None] + logp.view(U, b, V)).view(U, b * V)  # (U, b*V)
            # Invalid candidates are -inf; they are only kept if a user has fewer than beam_size
            # valid prefixes at this level, and then die at the next step (their node is -1).
            scores, flat = candidates.topk(min(beam_size, b * V), dim=1)  # (U, b'), sorted
            rows = (flat // V + user_offset * b).view(-1)  # parent beam's decoder row, grouped by user
            tokens = (flat % V).view(-1)  # (U*b',)
            nodes = trie.step(level, nodes[rows], tokens)
            if level + 1 < trie.depth:
                cache = cache.reorder(rows)
        items = trie.items(nodes).view(U, -1)
    # With n_items >= k every user ends with >= k valid beams, and topk sorted them: take the first k.
    return items[:, :k].contiguous(), scores[:, :k].contiguous()


def unconstrained_invalid_rate(model: GenerativeNetwork, src: torch.Tensor, trie: PrefixTrie) -> float:
    """Share of users whose greedy, unconstrained code is not a catalogue item (a diagnostic of how
    much work the trie does; 0 means the model has learnt the catalogue's codes)."""
    _check_devices(src, trie)
    with _eval_mode(model):
        src_mask = src != PAD
        memory = model.encode(src, src_mask)
        tokens = torch.full((src.shape[0],), BOS, dtype=torch.long, device=src.device)
        nodes = trie.root(src.shape[0])
        cache = None
        for level in range(trie.depth):
            logits, cache = model.decode_step(tokens, cache, memory, src_mask)
            tokens = logits.argmax(dim=-1)
            nodes = trie.step(level, nodes, tokens)  # stays -1 once the path leaves the trie
    return float((nodes < 0).float().mean().item())
