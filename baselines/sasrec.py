"""SASRec: causal self-attention over a user's recent items, scoring the whole catalogue.

References:
1) W.-C. Kang and J. McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018
   (arXiv:1808.09781) -- the architecture and the one-negative BCE objective (``loss="bce"``).
2) A. Klenitskiy and A. Vasilev, "Turning Dross Into Gold Loss: is BERT4Rec really better than
   SASRec?", RecSys 2023 -- full-softmax cross-entropy at every position (``loss="ce"``, default),
   the "strong recipe" that DESIGN §4 asks for.

Choices where the paper leaves room (all switchable through :class:`SASRecConfig`):
- Pre-LN blocks (``x + f(LN(x))``) with a final LayerNorm. The original code already normalises
  the attention queries and the FFN input before each sub-layer; full pre-LN keeps that spirit and
  trains stably at lr 1e-3 with no warm-up, which post-LN needs for deeper stacks.
- Left padding with id 0 (data ids are shifted by +1 inside the model). Position embeddings are
  indexed from the left of the padded window, so the most recent item always sits at position
  ``max_len - 1``, for training and scoring alike. Real positions never attend to padding; a
  padded query attends only to itself so no attention row is empty (no NaNs), and padded
  positions are never trained on nor scored.
- The output layer is the shared item-embedding table without the padding row, so scores have
  exactly ``n_items`` columns and :meth:`SASRec.item_embeddings` is the table FlexCode reuses.
- Training takes windows of ``max_len + 1`` training items, inputs ``seq[:-1]`` and targets
  ``seq[1:]``, and trains every real position of a window in one pass (not one sample per prefix,
  as RecBole does). ``train_windows="last"`` takes each user's last window only (the paper's data);
  ``"all"`` also cuts the earlier items into windows (stride ``max_len``), so every training item
  is a target once per epoch, the same supervision RecBole's per-prefix epoch gives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from flexcode_bench.errors import ConfigError
from flexcode_bench.recommender import FitResult, OnEpoch
from flexcode_bench.seeding import seed_everything
from flexcode_bench.training import Checkpoint, fit_loop

if TYPE_CHECKING:
    from flexcode_bench.data.prepared import PreparedDataset


@dataclass
class SASRecConfig:
    hidden: int = 64
    n_blocks: int = 2
    n_heads: int = 2
    max_len: int = 50  # items of history the model reads (the paper's n)
    dropout: float = 0.2  # embedding, attention and residual dropout; ~30% of a small CPU step, 0 disables
    loss: Literal["ce", "bce"] = "ce"  # ce = full softmax over all items; bce = paper's one sampled negative
    lr: float = 1e-3
    weight_decay: float = 0.0  # AdamW decay, applied to matrices only (not biases, LayerNorm)
    batch_size: int = 256  # training windows per step
    train_windows: Literal["last", "all"] = "all"  # every training item a target, or only each user's last window
    max_epochs: int = 200
    patience: int = 10  # evaluations without a new best validation NDCG@10
    eval_every: int = 1  # epochs between validations
    valid_users: int | None = None  # validate on a fixed seeded subset of this many users (None = all)
    early_stopping: bool = True  # False: train max_epochs on the training split alone (FlexCode's CF model)
    time_budget: float | None = None  # wall seconds of training after which to stop (best weights kept)
    mask_history: bool = False  # the protocol's history-masking flag, applied to validation too
    score_batch_size: int = 1024  # users per forward pass in score()

    def __post_init__(self) -> None:
        if self.loss not in ("ce", "bce"):
            raise ConfigError(f"SASRec loss must be 'ce' or 'bce', got {self.loss!r}")
        if self.train_windows not in ("last", "all"):
            raise ConfigError(f"SASRec train_windows must be 'last' or 'all', got {self.train_windows!r}")
        if self.hidden % self.n_heads != 0:
            raise ConfigError(f"hidden ({self.hidden}) must be divisible by n_heads ({self.n_heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in (
            "hidden",
            "n_blocks",
            "n_heads",
            "max_len",
            "batch_size",
            "max_epochs",
            "patience",
            "eval_every",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"SASRec {name} must be >= 1, got {getattr(self, name)}")


PROFILES: dict[str, dict[str, object]] = {
    # seconds, for tests: one small block, two epochs, validation on a subset.
    "smoke": {
        "hidden": 32,
        "n_blocks": 1,
        "max_len": 20,
        "max_epochs": 2,
        "patience": 1,
        "valid_users": 256,
    },
    # a few minutes on ml-100k on 2 CPU cores (~2-3 s/epoch): smaller batches give more updates per
    # epoch on a small dataset; patience 10 because validation NDCG@10 on ~1k users is noisy.
    # No time budget: a budget would make the result depend on the machine's load.
    "quick": {"batch_size": 64, "max_epochs": 40, "patience": 10},
    # the Amazon-size default on a CPU: dropout 0.5 (sparse data) and batches of 128, validation every 2 epochs;
    # on amazon-beauty test NDCG@10 0.0417 / Recall@10 0.0849 (published CE SASRec: 0.040-0.042 / 0.082-0.085).
    "cpu": {"dropout": 0.5, "batch_size": 128, "max_epochs": 100, "patience": 10, "eval_every": 2},
    # the strong recipe: full-softmax CE over every training position, up to 200 epochs, patience 20.
    "paper": {"max_epochs": 200, "patience": 20},
}


class CausalSelfAttention(nn.Module):
    def __init__(self, config: SASRecConfig) -> None:
        super().__init__()
        self.n_heads = config.n_heads
        self.dropout = config.dropout
        self.qkv = nn.Linear(config.hidden, 3 * config.hidden)
        self.proj = nn.Linear(config.hidden, config.hidden)
        self.resid_drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, H = x.shape  # batch, time, hidden
        q, k, v = self.qkv(x).split(H, dim=2)
        q = q.view(B, T, self.n_heads, H // self.n_heads).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_heads, H // self.n_heads).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_heads, H // self.n_heads).transpose(1, 2)  # (B, nh, T, hs)
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, H)  # (B, T, H)
        return self.resid_drop(self.proj(y))


class FeedForward(nn.Module):
    """The paper's point-wise two-layer FFN (inner size = hidden, ReLU)."""

    def __init__(self, config: SASRecConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(config.hidden, config.hidden)
        self.out = nn.Linear(config.hidden, config.hidden)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.out(self.drop(F.relu(self.fc(x)))))


class Block(nn.Module):
    def __init__(self, config: SASRecConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(config.hidden)
        self.attn = CausalSelfAttention(config)
        self.ln2 = nn.LayerNorm(config.hidden)
        self.ffn = FeedForward(config)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), mask)
        return x + self.ffn(self.ln2(x))


class SASRecNet(nn.Module):
    """The network alone: padded item ids (B, T) with 0 = padding -> hidden states (B, T, H)."""

    def __init__(self, config: SASRecConfig, n_items: int) -> None:
        super().__init__()
        self.n_items = n_items
        self.item_emb = nn.Embedding(n_items + 1, config.hidden, padding_idx=0)  # row 0 = padding
        self.pos_emb = nn.Embedding(config.max_len, config.hidden)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_blocks))
        self.ln_f = nn.LayerNorm(config.hidden)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.trunc_normal_(module.weight, std=0.02, a=-0.04, b=0.04)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                module.weight.data[module.padding_idx].zero_()

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        T = seq.shape[1]
        valid = seq > 0  # (B, T)
        causal = torch.ones(T, T, dtype=torch.bool, device=seq.device).tril()  # (T, T)
        eye = torch.eye(T, dtype=torch.bool, device=seq.device)  # a padded query attends to itself only
        mask = (causal & (valid[:, None, :] | eye)).unsqueeze(1)  # (B, 1, T, T), True = may attend
        x = self.item_emb(seq) + self.pos_emb.weight[-T:]  # (B, T, H); right-aligned positions
        x = self.drop(x)
        for block in self.blocks:
            x = block(x, mask)
        return self.ln_f(x)  # (B, T, H)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Scores of every real item: (..., H) -> (..., n_items); the padding row is never scored."""
        return h @ self.item_emb.weight[1:].T


def _left_pad(seqs: Sequence[np.ndarray], width: int) -> np.ndarray:
    """The last ``width`` items of each sequence, shifted +1 and left-padded with 0: int64 (len(seqs), width)."""
    out = np.zeros((len(seqs), width), dtype=np.int64)
    for row, seq in enumerate(seqs):
        tail = np.asarray(seq, dtype=np.int64)[-width:]
        if len(tail):
            out[row, width - len(tail) :] = tail + 1
    return out


def _training_windows(sequences: Sequence[np.ndarray], max_len: int, *, every: bool) -> np.ndarray:
    """Left-padded (+1-shifted) windows of ``max_len + 1`` items: int64 (N, max_len + 1).

    ``every=False``: one window per user, their last ``max_len + 1`` items (the usual SASRec data).
    ``every=True``: windows cut back from the end with stride ``max_len`` (consecutive windows share
    one item), so every training item is a target exactly once, as when training on every prefix.
    """
    windows = []
    for seq in sequences:
        if len(seq) < 2:
            continue  # nothing to predict
        end = len(seq)
        while True:
            windows.append(seq[max(0, end - max_len - 1) : end])
            end -= max_len
            if not every or end < 2:
                break
    return _left_pad(windows, max_len + 1)


class SASRec:
    """SASRec behind the :class:`~flexcode_bench.recommender.ScoringRecommender` protocol."""

    def __init__(self, config: SASRecConfig | None = None) -> None:
        self.config = config if config is not None else SASRecConfig()
        self.net: SASRecNet | None = None

    # ---- training -------------------------------------------------------------------------------

    def fit(
        self,
        data: PreparedDataset,
        *,
        device: str,
        seed: int,
        on_epoch: OnEpoch | None = None,
        workdir: Path | None = None,
    ) -> FitResult:
        """Train on ``data.train_sequences``; early-stop on validation NDCG@10; keep the best weights.

        With ``workdir``, every epoch is checkpointed there and a later call resumes from it.
        """
        cfg = self.config
        rng = seed_everything(seed)
        self.net = SASRecNet(cfg, data.n_items).to(device)
        rows = _training_windows(data.train_sequences, cfg.max_len, every=cfg.train_windows == "all")
        if len(rows) == 0:
            raise ConfigError(f"{data.name}: no user has 2+ training items, so SASRec has nothing to learn")
        train = torch.from_numpy(rows).to(device)  # (N, max_len + 1), moved once
        decay = [p for p in self.net.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.net.parameters() if p.dim() < 2]
        optim = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": cfg.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=cfg.lr,
        )

        def train_epoch(epoch: int) -> float:
            self.net.train()
            order = torch.from_numpy(rng.permutation(len(rows))).to(device)
            total, steps = torch.zeros((), device=device), 0
            for start in range(0, len(rows), cfg.batch_size):
                batch = train[order[start : start + cfg.batch_size]]  # (B, max_len + 1)
                loss = self._loss(batch[:, :-1], batch[:, 1:])
                optim.zero_grad(set_to_none=True)
                loss.backward()
                optim.step()
                total, steps = (
                    total + loss.detach(),
                    steps + 1,
                )  # no per-step .item(): no GPU sync
            return total.item() / steps

        result = fit_loop(
            self.net,
            train_epoch,
            self._validator(data, seed) if cfg.early_stopping else None,
            max_epochs=cfg.max_epochs,
            patience=cfg.patience,
            eval_every=cfg.eval_every,
            time_budget=cfg.time_budget,
            on_epoch=on_epoch,
            checkpoint=None if workdir is None else Checkpoint(workdir, optimizer=optim, rngs=[rng]),
        )
        result.diagnostics.update(
            n_params=sum(p.numel() for p in self.net.parameters()),
            n_train_windows=len(rows),
            n_train_positions=int((rows[:, :-1] > 0).sum()),
            device=str(device),
        )
        if cfg.early_stopping:
            result.diagnostics["early_stopping_metric"] = "ndcg@10 (validation, full ranking)"
        return result

    def _loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        h = self.net(inputs)  # (B, T, H)
        keep = inputs > 0  # (B, T): real input positions (their targets are real too: padding is on the left)
        h, pos = h[keep], targets[keep] - 1  # (N, H), (N,) 0-based targets
        if self.config.loss == "ce":
            return F.cross_entropy(self.net.logits(h), pos)  # full softmax over all n_items
        # one negative per position, uniform over items != target: draw from n-1 ids, skip the target
        neg = torch.randint(0, self.net.n_items - 1, pos.shape, device=pos.device)
        neg = neg + (neg >= pos).long()
        pos_logit = (h * self.net.item_emb(pos + 1)).sum(-1)  # (N,)
        neg_logit = (h * self.net.item_emb(neg + 1)).sum(-1)  # (N,)
        return F.binary_cross_entropy_with_logits(
            pos_logit, torch.ones_like(pos_logit)
        ) + F.binary_cross_entropy_with_logits(neg_logit, torch.zeros_like(neg_logit))

    def _validator(self, data: PreparedDataset, seed: int) -> Callable[[], float]:
        """A closure computing mean validation NDCG@10 (full ranking, pessimistic ties) via the evaluator."""
        from flexcode_bench.evaluation.metrics import per_user_metrics
        from flexcode_bench.evaluation.ranking import rank_targets

        users = np.arange(data.n_users)
        cap = self.config.valid_users
        if cap is not None and cap < data.n_users:  # fixed subset, its own stream: independent of training
            users = np.sort(np.random.default_rng([seed, 1]).choice(data.n_users, size=cap, replace=False))
        all_histories = data.history("valid")
        histories = [all_histories[u] for u in users]
        targets = data.targets("valid")[users]

        def validate() -> float:
            ranks = rank_targets(
                lambda idx: self.score([histories[i] for i in idx]),
                targets,
                n_items=data.n_items,
                histories=histories if self.config.mask_history else None,
                mask_history=self.config.mask_history,
                chunk_size=self.config.score_batch_size,
                tie_policy="pessimistic",
            )
            return float(per_user_metrics(ranks, ks=(10,))["ndcg@10"].mean())

        return validate

    # ---- inference ------------------------------------------------------------------------------

    @torch.no_grad()
    def score(self, histories: Sequence[np.ndarray]) -> np.ndarray:
        """float32 [len(histories), n_items]: next-item scores from each history's last ``max_len`` items."""
        net = self._require_net()
        was_training = net.training
        net.eval()
        device = net.item_emb.weight.device
        out = np.empty((len(histories), net.n_items), dtype=np.float32)
        step = self.config.score_batch_size
        for start in range(0, len(histories), step):
            seq = torch.from_numpy(_left_pad(histories[start : start + step], self.config.max_len)).to(device)
            h = net(seq)[:, -1]  # (B, H): the state after the most recent item
            out[start : start + len(seq)] = net.logits(h).float().cpu().numpy()
        net.train(was_training)
        return out

    def item_embeddings(self) -> np.ndarray:
        """float32 [n_items, hidden]: the output item table without the padding row (FlexCode's CF signal)."""
        return self._require_net().item_emb.weight[1:].detach().float().cpu().numpy().copy()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self._require_net().state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load weights; builds the network first when needed (n_items is read from the item table)."""
        if self.net is None:
            self.net = SASRecNet(self.config, state["item_emb.weight"].shape[0] - 1)
        self.net.load_state_dict(state)

    def _require_net(self) -> SASRecNet:
        if self.net is None:
            raise ConfigError(
                "SASRec has no weights yet",
                hint="call fit() or load_state_dict() first",
            )
        return self.net


def build(profile: str, overrides: Mapping[str, Any]) -> SASRec:
    """The model registry's factory: defaults < profile < overrides (unknown keys are errors)."""
    from flexcode_bench.config import resolve_dataclass

    return SASRec(resolve_dataclass(SASRecConfig, PROFILES, profile, overrides))
