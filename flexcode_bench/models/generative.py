"""Generative retrieval, the part TIGER and FlexCode share.

Rajput et al., "Recommender Systems with Generative Retrieval" (TIGER), NeurIPS 2023: every item is a
short code of tokens; an encoder-decoder reads a hashed user token plus the last 20 history items'
codes and generates the next item's code; constrained beam search over a prefix trie of valid codes
returns distinct, valid catalogue items.

A subclass decides how items are coded (:meth:`GenerativeRetriever.build_codes`) and may change the
training loss on the target item (:meth:`GenerativeRetriever.target_loss`, FlexCode takes an
expectation over codebook splits there). Everything else — windows, batching, early stopping on
validation Recall@10, decoding, diagnostics — lives here once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from flexcode_bench.data.prepared import PreparedDataset
from flexcode_bench.recommender import FitResult, OnEpoch
from flexcode_bench.tokenizers.vocabulary import BOS, PAD, Vocabulary

USER_BLOCK = "user"
_HASH = 2_654_435_761  # Knuth's multiplicative hash: spreads consecutive user ids over the buckets


@dataclass
class GenerativeConfig:
    """Generator size and training schedule (TIGER's paper values are the ``paper`` profile)."""

    d_model: int = 128
    n_heads: int = 6
    d_head: int = 64
    d_ff: int = 1024
    n_layers: int = 4  # encoder and decoder each
    dropout: float = 0.1
    max_history: int = 20
    windows_per_user: int | None = None  # train on each user's last N targets only (None = all)
    n_user_buckets: int = 2000
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 256
    max_epochs: int = 200
    patience: int = 10
    eval_every: int = 1
    valid_users: int | None = None  # validate on a seeded sample of this many users (None = all)
    time_budget: float | None = None  # seconds of training wall time
    beam_size: int = 20


# Profiles shared by every generative retriever (TIGER, FlexCode): the same generator, tokeniser and
# training budget, so comparing them changes the item codes and nothing else. Models add their own keys.
PROFILES: dict[str, dict[str, Any]] = {
    # seconds, for tests: a tiny generator and codebook; tf-idf text vectors avoid loading a transformer.
    "smoke": dict(d_model=32, n_heads=2, d_head=16, d_ff=64, n_layers=1, dropout=0.0, max_epochs=3, patience=2,
                  valid_users=64, codebook_size=16, rqvae_epochs=5, text_encoder="tfidf-svd", beam_size=10),
    # the README demo: minutes per model on a 2-core CPU (ml-100k's ~100-item histories are cut to each
    # user's last 8 targets per epoch; no dropout, ~30% of a CPU step; a fixed epoch count keeps it deterministic).
    "quick": dict(d_model=64, n_heads=4, d_head=32, d_ff=256, n_layers=2, dropout=0.0, lr=2e-3, max_epochs=3,
                  patience=3, windows_per_user=8, valid_users=300, rqvae_epochs=20),
    # the paper's generator is the config defaults: 4+4 layers, d_model 128, 6 heads × 64, FF 1024, dropout 0.1.
    "paper": dict(),
}  # fmt: skip
def training_windows(
    sequences: Sequence[np.ndarray], max_history: int, per_user: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (user, position ≥ 1) of the training sequences: users [N], windows [N, max_history], targets [N].

    Windows hold the previous ``max_history`` item ids, left-padded with -1. ``per_user`` keeps only
    each user's most recent targets (long MovieLens histories would otherwise dominate an epoch).
    """
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    flat = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]) if len(sequences) else np.zeros(0, np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    users = np.repeat(np.arange(len(sequences)), np.maximum(lengths - 1, 0))
    positions = np.concatenate([np.arange(1, n) for n in lengths]) if len(sequences) else np.zeros(0, np.int64)
    absolute = starts[users] + positions  # index of each target in `flat`
    offsets = np.arange(-max_history, 0)  # (max_history,)
    index = absolute[:, None] + offsets[None, :]  # (N, max_history)
    valid = index >= starts[users][:, None]
    windows = np.where(valid, flat[np.clip(index, 0, None)], -1)
    keep = slice(None) if per_user is None else (lengths[users] - positions) <= per_user
    return users[keep].astype(np.int64), windows[keep], flat[absolute][keep]


def history_windows(histories: Sequence[np.ndarray], max_history: int) -> np.ndarray:
    """The last ``max_history`` items of each history, left-padded with -1: [U, max_history]."""
    windows = np.full((len(histories), max_history), -1, dtype=np.int64)
    for row, history in enumerate(histories):
        tail = np.asarray(history, dtype=np.int64)[-max_history:]
        if len(tail):
            windows[row, -len(tail) :] = tail
    return windows


class GenerativeRetriever:
    """Base class: subclasses implement :meth:`build_codes` and may override :meth:`target_loss`."""

    config: GenerativeConfig

    def __init__(self, config) -> None:
        self.config = config
        self.vocabulary: Vocabulary | None = None
        self.item_tokens: np.ndarray | None = None  # int64 [n_items, depth], global token ids
        self.diagnostics: dict = {}
        self._net: torch.nn.Module | None = None
        self._device = "cpu"
        self._trie_tokens: np.ndarray | None = None  # the codes the current trie was built from

    # ---- hooks ------------------------------------------------------------------------------
    def build_codes(self, data: PreparedDataset, *, device: str, seed: int) -> None:
        """Set ``self.vocabulary`` and ``self.item_tokens`` from the training split only."""
        raise NotImplementedError

    def trainable(self) -> torch.nn.Module:
        """Everything trained with the generator (the generator alone here; FlexCode adds its router)."""
        return self.generator

    def refresh_codes(self) -> None:
        """Recompute ``self.item_tokens`` if they depend on trained weights (FlexCode's hard splits).

        Called before every epoch, before every validation and after the best weights are restored,
        so history inputs, the trie and the restored model always agree.
        """

    def final_diagnostics(self, data: PreparedDataset) -> dict:
        """Model-specific diagnostics recorded in the run manifest after training."""
        return {}

    def target_loss(self, memory: torch.Tensor, src_mask: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the target items' codes, teacher-forced. ``targets`` are item ids [B]."""
        codes = self._item_tokens_t[targets]  # (B, depth)
        return self.code_nll(memory, src_mask, codes).mean()

    # ---- building blocks ---------------------------------------------------------------------
    @property
    def generator(self):
        return self._net

    def code_nll(self, memory: torch.Tensor, src_mask: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of whole codes [B, depth] → [B] (summed over the code's tokens)."""
        bos = torch.full_like(codes[:, :1], BOS)
        logits = self._net.decode(torch.cat([bos, codes[:, :-1]], dim=1), memory, src_mask)  # (B, depth, V)
        nll = F.cross_entropy(logits.flatten(0, 1), codes.flatten(), reduction="none")
        return nll.view(codes.shape).sum(dim=1)

    def encoder_inputs(self, users: np.ndarray, windows: np.ndarray) -> torch.Tensor:
        """[B, 1 + max_history·depth]: the hashed user token, then each history item's code (PAD for none)."""
        start = self.vocabulary.range_of(USER_BLOCK).start
        user_token = start + (users.astype(np.int64) * _HASH) % self.config.n_user_buckets
        depth = self.item_tokens.shape[1]
        codes = np.where(windows[:, :, None] >= 0, self.item_tokens[np.clip(windows, 0, None)], PAD)
        src = np.concatenate([user_token[:, None], codes.reshape(len(users), depth * windows.shape[1])], axis=1)
        return torch.from_numpy(src).to(self._device)

    # ---- Recommender protocol ----------------------------------------------------------------
    def fit(
        self, data: PreparedDataset, *, device: str, seed: int, on_epoch: OnEpoch | None = None, workdir: Path | None = None
    ) -> FitResult:
        """Build the item codes, then train the generator; with ``workdir`` both are resumable from there."""
        from flexcode_bench.models.generator import Generator, GeneratorConfig
        from flexcode_bench.training import Checkpoint, cached_stage, fit_loop

        cfg = self.config
        self._device = device
        self._trie_tokens = None  # a new fit builds a new vocabulary, so any earlier trie is stale
        started = time.perf_counter()
        cached_stage(self, "build_codes", workdir, lambda: self.build_codes(data, device=device, seed=seed))
        self.vocabulary.add(USER_BLOCK, cfg.n_user_buckets)
        self.diagnostics["tokenize_seconds"] = time.perf_counter() - started
        depth = self.item_tokens.shape[1]
        torch.manual_seed(seed)
        self._net = Generator(
            GeneratorConfig(
                vocab_size=self.vocabulary.size, d_model=cfg.d_model, n_heads=cfg.n_heads, d_head=cfg.d_head,
                d_ff=cfg.d_ff, n_encoder_layers=cfg.n_layers, n_decoder_layers=cfg.n_layers, dropout=cfg.dropout,
                max_source_len=1 + cfg.max_history * depth,
            )
        ).to(device)  # fmt: skip
        self._refresh_tokens()
        users, windows, targets = training_windows(data.train_sequences, cfg.max_history, cfg.windows_per_user)
        optimizer = torch.optim.AdamW(self.trainable().parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        rng = np.random.default_rng(seed)

        def train_epoch(epoch: int) -> float:
            self._refresh_tokens()
            self.trainable().train()
            order = rng.permutation(len(targets))
            total = 0.0
            for start in range(0, len(order), cfg.batch_size):
                batch = order[start : start + cfg.batch_size]
                src = self.encoder_inputs(users[batch], windows[batch])
                src_mask = src != PAD
                memory = self._net.encode(src, src_mask)
                loss = self.target_loss(memory, src_mask, torch.from_numpy(targets[batch]).to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * len(batch)
            return total / max(len(order), 1)

        valid_rows = np.arange(data.n_users)
        if cfg.valid_users is not None and cfg.valid_users < data.n_users:
            valid_rows = np.sort(np.random.default_rng(seed + 1).choice(data.n_users, cfg.valid_users, replace=False))
        histories = data.history("valid")

        def validate() -> float:
            from flexcode_bench.evaluation.ranking import rank_in_topk

            self._refresh_tokens()
            topk = self.recommend(valid_rows, [histories[u] for u in valid_rows], 10)
            ranks = rank_in_topk(topk, data.valid_targets[valid_rows], n_items=data.n_items)
            return float(((ranks >= 1) & (ranks <= 10)).mean())

        checkpoint = None if workdir is None else Checkpoint(workdir, optimizer=optimizer, rngs=[rng])
        result = fit_loop(self.trainable(), train_epoch, validate, max_epochs=cfg.max_epochs, patience=cfg.patience,
                          eval_every=cfg.eval_every, time_budget=cfg.time_budget, on_epoch=on_epoch,
                          checkpoint=checkpoint)  # fmt: skip
        self._refresh_tokens()
        result.diagnostics.update(self.diagnostics)
        result.diagnostics.update(self.final_diagnostics(data))
        result.diagnostics["early_stopping_metric"] = "recall@10 (validation, beam search)"
        result.diagnostics.update(self._decode_diagnostics(data))
        return result

    def recommend(self, users: np.ndarray, histories: Sequence[np.ndarray], k: int) -> np.ndarray:
        from flexcode_bench.decoding import beam_search

        windows = history_windows(histories, self.config.max_history)
        items = []
        with torch.no_grad():
            for start in range(0, len(users), 256):  # bounded decoder memory: beams × users
                src = self.encoder_inputs(np.asarray(users[start : start + 256]), windows[start : start + 256])
                found, _ = beam_search(self._net, src, self._trie, beam_size=max(self.config.beam_size, k), k=k)
                items.append(found.cpu().numpy())
        return np.concatenate(items) if items else np.zeros((0, k), dtype=np.int64)

    # ---- internals ---------------------------------------------------------------------------
    def _refresh_tokens(self) -> None:
        from flexcode_bench.tokenizers.trie import PrefixTrie

        self.refresh_codes()
        # The trie is rebuilt only when the codes changed (never for TIGER, when splits move for FlexCode).
        if self._trie_tokens is not None and np.array_equal(self._trie_tokens, self.item_tokens):
            return
        self._trie_tokens = self.item_tokens.copy()
        self._item_tokens_t = torch.from_numpy(self.item_tokens).to(self._device)
        self._trie = PrefixTrie(self.item_tokens, self.vocabulary.size).to(self._device)

    def _decode_diagnostics(self, data: PreparedDataset) -> dict:
        from flexcode_bench.decoding import unconstrained_invalid_rate

        rows = np.arange(min(data.n_users, 512))
        histories = data.history("test")
        src = self.encoder_inputs(rows, history_windows([histories[u] for u in rows], self.config.max_history))
        with torch.no_grad():
            invalid = unconstrained_invalid_rate(self._net, src, self._trie)
        started = time.perf_counter()
        topk = self.recommend(rows, [histories[u] for u in rows], 10)
        seconds = time.perf_counter() - started
        duplicates = sum(len(row) - len(set(row[row >= 0])) for row in topk) / max(topk.size, 1)
        return {
            "invalid_id_rate_unconstrained": invalid,
            "duplicate_rate": duplicates,
            "decode_users_per_second": len(rows) / seconds,
            "trie_bytes": int(self._trie.nbytes()),
        }
