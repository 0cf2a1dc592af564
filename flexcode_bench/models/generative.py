"""Generative retrieval, the part TIGER and FlexCode share.

Rajput et al., "Recommender Systems with Generative Retrieval" (TIGER), NeurIPS 2023: every item is a
short code of tokens; an encoder-decoder reads a hashed user token plus the last 20 history items'
codes and generates the next item's code; constrained beam search over a prefix trie of valid codes
returns distinct, valid catalogue items.

A subclass decides how items are coded (:meth:`GenerativeRetriever.build_codes`) and may change the
training loss on the target item (:meth:`GenerativeRetriever.target_loss`, FlexCode takes an
expectation over codebook splits there). The ``backbone`` config key names how training sequences
become batches and which network reads them (:mod:`flexcode_bench.models.backbones`: TIGER's
per-window encoder, or one item-causal pass per sequence for all its targets). Everything else —
the LR schedule, early stopping on validation Recall@10, decoding, history masking, diagnostics —
lives here once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from flexcode_bench.data.prepared import PreparedDataset
from flexcode_bench.models.backbones import TrainingBatch, TrainingSet
from flexcode_bench.recommender import FitResult, OnEpoch
from flexcode_bench.tokenizers.vocabulary import BOS, PAD, Vocabulary

USER_BLOCK = "user"
_HASH = 2_654_435_761  # Knuth's multiplicative hash: spreads consecutive user ids over the buckets


@dataclass
class GenerativeConfig:
    """Generator size and training schedule (TIGER's paper values are the ``paper`` profile)."""

    backbone: str = "all-targets"  # a name in models.backbones.BACKBONES
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
    lr_schedule: Literal["constant", "cosine"] = "cosine"  # cosine: decays to 0 at max_epochs
    warmup_steps: int = 0  # linear warm-up from 0 over this many optimiser steps
    weight_decay: float = 0.01
    batch_size: int = 256  # training targets per optimiser step
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: autocast in training only, decoding stays fp32; refused
    # on a device without native bf16 (device.check_precision)
    max_epochs: int = 200
    patience: int = 10
    eval_every: int = 1
    valid_users: int | None = None  # validate on a seeded sample of this many users (None = all)
    beam_size: int = 20  # must be >= the largest K of the protocol: a smaller beam is refused, never raised
    mask_history: bool = False  # set by the run's protocol: drop history items from the returned top-K


PROFILES: dict[str, dict[str, Any]] = {
    # seconds, for tests: a tiny generator.
    "smoke": dict(d_model=32, n_heads=2, d_head=16, d_ff=64, n_layers=1, dropout=0.0, max_epochs=3, patience=2,
                  windows_per_user=8, valid_users=64),
    # the README demo: minutes per model on a 2-core CPU (ml-100k's ~100-item histories are cut to each
    # user's last 8 targets per epoch; no dropout, ~30% of a CPU step; a fixed epoch count keeps it deterministic).
    # It keeps TIGER's per-window encoder at a constant rate: in 3 epochs over 8 targets a user, the all-targets
    # backbone with a cosine decay learned less on ml-100k (test Recall@10 0.0127 for TIGER, 0.0233 for FlexCode,
    # one seed, against 0.0286-0.0509 and 0.0308-0.0382 for this recipe).
    "quick": dict(d_model=64, n_heads=4, d_head=32, d_ff=256, n_layers=2, dropout=0.0, lr=2e-3, max_epochs=3,
                  patience=3, windows_per_user=8, valid_users=300, backbone="per-window", lr_schedule="constant"),
    # the default, for Amazon-size data (Beauty, Sports, Toys) on a 2-core CPU: every training target each epoch,
    # warm-up then cosine decay to 0 at epoch 40 (at 24, two of TIGER's three seeds were still rising), early
    # stopping on validation Recall@10 of every validation user, as SASRec's: a 2,000-user sample kept epochs
    # that scored lower on all users (bench/early_stopping_samples.py), and all users cost TIGER about a minute
    # per evaluation on amazon-beauty. fp32, so it runs at full speed on every CPU: bf16 is
    # 1.45x faster only on CPUs with native bf16 (AVX512-BF16, AMX) and refused elsewhere (device.check_precision);
    # add `precision: bf16` on such a CPU. Dropout 0.1 was kept against 0 on amazon-beauty validation over all users
    # (TIGER, 24 epochs: 0.0654 vs 0.0624); the README's "Tuning the cpu profile" lists every variant tried and
    # bench/tune_generator.py reruns them.
    "cpu": dict(d_model=128, n_heads=4, d_head=32, d_ff=512, n_layers=2, dropout=0.1, lr=2e-3, warmup_steps=500,
                batch_size=256, max_epochs=40, patience=4, eval_every=2, valid_users=None, precision="fp32"),
    # the paper's generator (4+4 layers, d_model 128, 6 heads × 64, FF 1024, dropout 0.1) and TIGER's per-window
    # encoder, for a GPU; the recipe of public reimplementations that reach the paper's accuracy.
    "paper": dict(backbone="per-window", lr=3e-4, warmup_steps=10_000, max_epochs=200, patience=10),
}  # fmt: skip


def learning_rate_factor(schedule: str, warmup_steps: int, total_steps: int):
    """LR multiplier per optimiser step: linear warm-up, then constant or cosine decay to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def early_stopping_users(n_users: int, valid_users: int | None, seed: int) -> np.ndarray:
    """Sorted user rows whose validation Recall@10 drives early stopping: all, or a sample drawn with ``seed + 1``.

    Each seed draws its own sample, so sample scores of different seeds are not comparable with each other
    (on amazon-beauty every model scores lower on seed 2's sample than on seed 0's or 1's; see
    ``bench/early_stopping_samples.py``); the run records the sample's size and seed.
    """
    if valid_users is None or valid_users >= n_users:
        return np.arange(n_users)
    return np.sort(np.random.default_rng(seed + 1).choice(n_users, valid_users, replace=False))


def drop_history(found: np.ndarray, histories: Sequence[np.ndarray], k: int) -> np.ndarray:
    """The first ``k`` items of each row of ``found`` that are not in the user's history, -1 padded."""
    out = np.full((len(found), k), -1, dtype=np.int64)
    for row, (items, history) in enumerate(zip(found, histories)):
        kept = items[(items >= 0) & ~np.isin(items, history)][:k]
        out[row, : len(kept)] = kept
    return out


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

    def target_loss(self, memory: torch.Tensor, src_mask: torch.Tensor, targets: torch.Tensor,
                    row_mask: torch.Tensor | None) -> torch.Tensor:  # fmt: skip
        """Mean NLL of the target items' codes, teacher-forced.

        ``targets`` (B, g) are item ids, g decoder rows per source (-1 = an empty row, left out of the
        mean); ``row_mask`` (B·g, S) says which source tokens each row reads (None = all of them).
        """
        valid = targets >= 0
        codes = self._item_tokens_t[targets.clamp(min=0)].flatten(0, 1)  # (B·g, depth)
        nll = self.code_nll(memory, src_mask, codes, row_mask)  # (B·g,)
        return nll[valid.flatten()].mean()

    # ---- building blocks ---------------------------------------------------------------------
    @property
    def generator(self):
        return self._net

    def code_nll(
        self, memory: torch.Tensor, src_mask: torch.Tensor, codes: torch.Tensor, row_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Negative log-likelihood of whole codes [N, depth] → [N] (summed over the code's tokens).

        N is a multiple g of the memory's batch (rows grouped by source); ``row_mask`` as in ``Generator.decode``.
        """
        bos = torch.full_like(codes[:, :1], BOS)
        logits = self._net.decode(torch.cat([bos, codes[:, :-1]], dim=1), memory, src_mask, row_mask)  # (N, depth, V)
        nll = F.cross_entropy(logits.flatten(0, 1).float(), codes.flatten(), reduction="none")
        return nll.view(codes.shape).sum(dim=1)

    def encoder_inputs(self, users: np.ndarray, windows: np.ndarray) -> torch.Tensor:
        """[B, 1 + n·depth]: the hashed user token, then each window item's code, right-aligned.

        ``windows`` (B, n) are left-padded with -1. The user token sits right before the first item and
        the padding before it, so no padding separates the user from the items: relative positions
        between real tokens, and so the encoder's output, do not depend on how much padding a row has.
        """
        start = self.vocabulary.range_of(USER_BLOCK).start
        user_token = start + (users.astype(np.int64) * _HASH) % self.config.n_user_buckets
        depth = self.item_tokens.shape[1]
        codes = np.where(windows[:, :, None] >= 0, self.item_tokens[np.clip(windows, 0, None)], PAD)
        src = np.concatenate([np.full((len(users), 1), PAD), codes.reshape(len(users), depth * windows.shape[1])], axis=1)
        first = np.where((windows >= 0).any(axis=1), (windows >= 0).argmax(axis=1), windows.shape[1])  # first item's slot
        src[np.arange(len(users)), first * depth] = user_token  # the last padding token before slot `first`
        return torch.from_numpy(src).to(self._device)

    def _autocast(self):
        """bf16 autocast for training when configured; a no-op context otherwise."""
        device_type = "cuda" if str(self._device).startswith("cuda") else "cpu"
        return torch.autocast(device_type, dtype=torch.bfloat16, enabled=self.config.precision == "bf16")

    def batch_loss(self, batch: TrainingBatch) -> torch.Tensor:
        """The training loss of one batch of the backbone: one encoder pass per window, g decoder rows each."""
        src = self.encoder_inputs(batch.users, batch.windows)
        src_mask = src != PAD
        targets = torch.from_numpy(batch.targets).to(self._device)  # (B, g)
        row_mask = None
        if batch.prefix_rows:
            from flexcode_bench.models.generator import source_items

            B, g = targets.shape
            slot = source_items(src.shape[1], self.item_tokens.shape[1], src.device)  # (S,)
            prefix = slot[None, :] <= torch.arange(g, device=src.device)[:, None]  # (g, S): row j reads slots ≤ j
            users = self.vocabulary.range_of(USER_BLOCK)
            is_user = (src >= users.start) & (src < users.stop)  # (B, S): every row reads its user token
            row_mask = (prefix[None] | is_user[:, None, :]).reshape(B * g, -1)
        with self._autocast():
            memory = self._net.encode(src, src_mask)
            return self.target_loss(memory, src_mask, targets, row_mask)

    # ---- Recommender protocol ----------------------------------------------------------------
    def setup(self, data: PreparedDataset, *, device: str, seed: int, workdir: Path | None = None) -> TrainingSet:
        """Code the items (training split only), build the network and return the backbone's training set.

        With ``workdir``, the finished tokenisation is cached there, so a resumed run skips it.
        """
        from flexcode_bench.models.backbones import BACKBONES
        from flexcode_bench.models.generator import GeneratorConfig
        from flexcode_bench.training import cached_stage

        cfg = self.config
        backbone = BACKBONES.get(cfg.backbone)
        self._device = device
        self._trie_tokens = None  # a new fit builds a new vocabulary, so any earlier trie is stale
        started = time.perf_counter()
        cached_stage(self, "build_codes", workdir, lambda: self.build_codes(data, device=device, seed=seed))
        self.vocabulary.add(USER_BLOCK, cfg.n_user_buckets)
        self.diagnostics["tokenize_seconds"] = time.perf_counter() - started
        depth = self.item_tokens.shape[1]
        torch.manual_seed(seed)
        self._net = backbone.network(
            GeneratorConfig(
                vocab_size=self.vocabulary.size, d_model=cfg.d_model, n_heads=cfg.n_heads, d_head=cfg.d_head,
                d_ff=cfg.d_ff, n_encoder_layers=cfg.n_layers, n_decoder_layers=cfg.n_layers, dropout=cfg.dropout,
                max_source_len=1 + cfg.max_history * depth, code_depth=depth,
            )
        ).to(device)  # fmt: skip
        self._refresh_tokens()
        return backbone.training_set(data.train_sequences, cfg.max_history, cfg.windows_per_user)

    def fit(
        self, data: PreparedDataset, *, device: str, seed: int, on_epoch: OnEpoch | None = None, workdir: Path | None = None
    ) -> FitResult:
        """Build the item codes, then train the generator; with ``workdir`` both resume from there after a kill."""
        from flexcode_bench.device import check_precision
        from flexcode_bench.training import Checkpoint, fit_loop

        cfg = self.config
        check_precision(cfg.precision, device)  # before the codes are built: bf16 without hardware support is refused
        examples = self.setup(data, device=device, seed=seed, workdir=workdir)
        optimizer = torch.optim.AdamW(self.trainable().parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        # counted on a throw-away order: all-targets batches group whole chunks, so their number varies a little
        steps_per_epoch = sum(1 for _ in examples.batches(np.random.default_rng(0), cfg.batch_size))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, learning_rate_factor(cfg.lr_schedule, cfg.warmup_steps, cfg.max_epochs * steps_per_epoch)
        )
        rng = np.random.default_rng(seed)

        def train_epoch(epoch: int) -> float:
            self._refresh_tokens()
            self.trainable().train()
            total, seen = 0.0, 0
            for batch in examples.batches(rng, cfg.batch_size):
                loss = self.batch_loss(batch)
                value = float(loss.detach())  # the one host sync of a step, read before the step uses it
                if not math.isfinite(value):
                    from flexcode_bench.errors import TrainingDivergedError

                    raise TrainingDivergedError(
                        f"{type(self).__name__}'s training loss is {value} at epoch {epoch}, optimiser step "
                        f"{scheduler.last_epoch + 1}", hint="try precision: fp32 (is it bf16?) or a lower lr")  # fmt: skip
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                n = int((batch.targets >= 0).sum())
                total, seen = total + value * n, seen + n
            return total / max(seen, 1)

        valid_rows = early_stopping_users(data.n_users, cfg.valid_users, seed)
        histories = data.history("valid")

        def validate() -> float:
            self._refresh_tokens()
            return self.validation_recall(data, valid_rows, histories)

        checkpoint = None if workdir is None else Checkpoint(workdir, optimizer=optimizer, rngs=[rng])
        result = fit_loop(self.trainable(), train_epoch, validate, max_epochs=cfg.max_epochs, patience=cfg.patience,
                          eval_every=cfg.eval_every, on_epoch=on_epoch, checkpoint=checkpoint,
                          scheduler=scheduler)  # fmt: skip
        self._refresh_tokens()
        result.diagnostics.update(self.diagnostics)
        result.diagnostics.update(self.final_diagnostics(data))
        result.diagnostics.update(
            {"early_stopping_metric": "recall@10 (validation, beam search)", "backbone": cfg.backbone,
             "precision": cfg.precision, "train_targets_per_epoch": examples.n_targets,
             "valid_users": len(valid_rows), "valid_users_seed": seed + 1}
        )  # fmt: skip
        result.diagnostics.update(self._decode_diagnostics(data))
        return result

    def validation_recall(self, data: PreparedDataset, rows: np.ndarray, histories: Sequence[np.ndarray]) -> float:
        """Validation Recall@10 of the user ``rows`` by beam search (``histories``: ``data.history("valid")``);
        what early stopping reads."""
        from flexcode_bench.evaluation.metrics import per_user_metrics
        from flexcode_bench.evaluation.ranking import rank_in_topk

        topk = self.recommend(rows, [histories[u] for u in rows], 10)
        ranks = rank_in_topk(topk, data.valid_targets[rows], n_items=data.n_items)
        return float(per_user_metrics(ranks, ks=(10,))["recall@10"].mean())

    def recommend(self, users: np.ndarray, histories: Sequence[np.ndarray], k: int) -> np.ndarray:
        """Top-``k`` distinct valid items per user; with ``mask_history`` the user's history items are
        dropped from the ``beam_size`` finished beams first, and a row may come back short (-1 padded)."""
        from flexcode_bench.decoding import beam_search
        from flexcode_bench.errors import ConfigError

        beam = self.config.beam_size
        if beam < k:
            raise ConfigError(f"beam_size {beam} is smaller than K = {k}: the search cannot return {k} items",
                              hint=f"set beam_size >= {k} (model override)")  # fmt: skip
        windows = history_windows(histories, self.config.max_history)
        items = []
        with torch.no_grad():
            for start in range(0, len(users), 256):  # bounded decoder memory: beams × users
                src = self.encoder_inputs(np.asarray(users[start : start + 256]), windows[start : start + 256])
                found, _ = beam_search(self._net, src, self._trie, beam_size=beam, k=beam if self.config.mask_history else k)
                items.append(found.cpu().numpy())
        found = np.concatenate(items) if items else np.zeros((0, k), dtype=np.int64)
        if not self.config.mask_history:
            return found
        return drop_history(found, histories, k)

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
