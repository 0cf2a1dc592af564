"""A T5-style encoder-decoder that reads a user's history as code tokens and generates the next
item's code, one token per step.

References:
1) C. Raffel et al., "Exploring the Limits of Transfer Learning with a Unified Text-to-Text
   Transformer", JMLR 2020 (arXiv:1910.10683) -- T5: pre-norm RMSNorm blocks without biases,
   ReLU feed-forward, relative position buckets shared by the layers of a stack, tied embeddings
   with the output rescaled by d_model^-0.5.
2) S. Rajput et al., "Recommender Systems with Generative Retrieval", NeurIPS 2023
   (arXiv:2305.05065) -- TIGER: 4+4 layers, d_model 128, 6 heads of 64 (so the attention's inner
   width 384 is *not* d_model, which ``nn.Transformer`` cannot express), FF 1024, dropout 0.1;
   the encoder reads a hashed user token + the last 20 items' codes, item-major.

Choices (sizes, dropout, activation and tying are :class:`GeneratorConfig` fields):
- Positions are T5 relative buckets, not learned absolute positions: the bias depends only on
  key - query, so left- or right-padding a source changes nothing (tested), and each token's
  codebook level is already told by its id range (one range per level in the Vocabulary).
- Attention goes through ``F.scaled_dot_product_attention`` with the usual 1/sqrt(d_head)
  scaling, so the query init is d_model^-0.5 rather than T5's (d_model·d_head)^-0.5 that folds the
  scale in. At inference every call runs the fused CPU kernel (measured ~8x the explicit softmax
  at batch 256 x 81 tokens when the mask needs no gradient). In training, self-attention falls back to SDPA's math kernel because the fused
  one returns no gradient for the additive (learnt) bias; freezing the bias would buy ~5-10% of a
  step (bench/train_throughput.py), not worth losing T5's learnt positions.
- Cross-attention accepts several decoder rows per encoded source (``n_dec = g · n_src``, rows
  grouped source-major): their queries are stacked as g·T queries against one copy of the
  source's keys and values. Beam search uses it to keep one memory per user for all its beams,
  and training uses it to score several targets of the same source (e.g. FlexCode's L+1 splits
  of one target item) with a single encoder pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn
import torch.nn.functional as F

from flexcode_bench.errors import ConfigError
from flexcode_bench.tokenizers.vocabulary import PAD


@dataclass
class GeneratorConfig:
    vocab_size: int
    d_model: int = 128
    n_heads: int = 6
    d_head: int = 64  # attention inner width is n_heads * d_head (384 for TIGER), independent of d_model
    d_ff: int = 1024
    n_encoder_layers: int = 4
    n_decoder_layers: int = 4
    dropout: float = 0.1  # ~30% of a small CPU step; 0 removes the dropout modules entirely
    max_source_len: int = 81  # 1 user token + 20 items x 4 tokens; longer sources are refused
    relative_buckets: int = 32  # T5 defaults: 32 buckets, log-spaced up to 128 tokens apart
    relative_max_distance: int = 128
    activation: Literal["relu", "gelu"] = "relu"  # T5 v1.0 uses ReLU
    tie_embeddings: bool = True  # output layer = input embedding table (scaled by d_model^-0.5)
    # "bidirectional": TIGER's encoder, every source token sees every other one (one pass per target).
    # "item-causal": a token sees the user token and the tokens of its own and earlier items, so one pass
    # over a whole sequence serves every target in it (each decoder row then reads only its prefix).
    encoder_attention: Literal["bidirectional", "item-causal"] = "bidirectional"
    code_depth: int = 4  # tokens per item in the source after the one user token (item-causal grouping)
    # A learnt bias on cross-attention by the key's distance from the end of what a decoder row reads. An
    # item-causal encoder cannot tell an item that it is the latest one (it never sees what follows), so
    # without it the decoder has no notion of recency beyond the lengths it was trained on.
    cross_position_bias: bool = False

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_heads", "d_head", "d_ff", "n_encoder_layers",
                     "n_decoder_layers", "max_source_len", "relative_buckets", "relative_max_distance"):
            if getattr(self, name) < 1:
                raise ConfigError(f"GeneratorConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"generator dropout must be in [0, 1), got {self.dropout}")
        if self.activation not in ("relu", "gelu"):
            raise ConfigError(f"generator activation must be 'relu' or 'gelu', got {self.activation!r}")
        if self.encoder_attention not in ("bidirectional", "item-causal"):
            raise ConfigError(f"encoder_attention must be 'bidirectional' or 'item-causal', got {self.encoder_attention!r}")


def _dropout(p: float) -> nn.Module:
    return nn.Dropout(p) if p > 0 else nn.Identity()  # Identity skips the kernel call entirely


def _masked_value(dtype: torch.dtype) -> float:
    # finite rather than -inf: a fully masked row then softmaxes to uniform instead of NaN
    return torch.finfo(dtype).min


def source_items(length: int, depth: int, device: torch.device | str) -> torch.Tensor:
    """Item slot of each source position (S,): position 0 is slot -1, then depth tokens per slot.

    A right-aligned source puts its user token in the last padding position before the first item, so
    the user token's slot is always below every item's (and is -1 in a row with no padding).
    """
    return torch.div(torch.arange(length, device=device) - 1, depth, rounding_mode="floor")


def tree_layout(parents: Sequence[int], device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
    """Depth (T,) and self-attention visibility (T, T) of decoder inputs laid out as a prefix tree.

    ``parents[n]`` is the index of input n's parent (-1 for a root) and precedes n. Input n sees
    itself and its ancestors, at relative positions given by depth: exactly the context and the
    offsets it has as the last input of its root-to-n path decoded as a plain sequence. A sequence
    is the chain ``parents = [-1, 0, 1, ...]``, whose visibility is the usual causal mask.
    """
    parents = list(parents)
    depth = [0] * len(parents)
    visible = torch.eye(len(parents), dtype=torch.bool)
    for n, parent in enumerate(parents):
        if parent >= n:
            raise ValueError(f"decoder input {n}'s parent {parent} does not precede it")
        if parent >= 0:
            depth[n] = depth[parent] + 1
            visible[n] |= visible[parent]
    return torch.tensor(depth, device=device), visible.to(device)


def relative_position_bucket(relative: torch.Tensor, bidirectional: bool, n_buckets: int, max_distance: int) -> torch.Tensor:
    """T5's bucket of each ``key - query`` offset: exact for small offsets, log-spaced beyond."""
    bucket = torch.zeros_like(relative)
    if bidirectional:
        n_buckets //= 2
        bucket += (relative > 0).long() * n_buckets  # keys after the query get their own half
        distance = relative.abs()
    else:
        distance = (-relative).clamp(min=0)  # causal: only the past has distinct buckets
    exact = n_buckets // 2
    log_ratio = torch.log(distance.clamp(min=1).float() / exact) / math.log(max_distance / exact)
    large = (exact + (log_ratio * (n_buckets - exact)).long()).clamp(max=n_buckets - 1)
    return bucket + torch.where(distance < exact, distance, large)


class RelativePositionBias(nn.Module):
    """One learned scalar per (bucket, head), shared by every layer of a stack (as in T5)."""

    def __init__(self, cfg: GeneratorConfig, bidirectional: bool) -> None:
        super().__init__()
        self.bidirectional = bidirectional
        self.n_buckets = cfg.relative_buckets
        self.max_distance = cfg.relative_max_distance
        self.bias = nn.Embedding(cfg.relative_buckets, cfg.n_heads)

    def forward(self, query_pos: torch.Tensor, key_pos: torch.Tensor) -> torch.Tensor:
        relative = key_pos[None, :] - query_pos[:, None]  # (T, S)
        bucket = relative_position_bucket(relative, self.bidirectional, self.n_buckets, self.max_distance)
        return self.bias(bucket).permute(2, 0, 1)[None]  # (T, S, H) -> (1, H, T, S)


class Attention(nn.Module):
    """Multi-head attention with inner width n_heads * d_head and no biases (T5)."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        inner = cfg.n_heads * cfg.d_head
        self.n_heads, self.d_head = cfg.n_heads, cfg.d_head
        self.q = nn.Linear(cfg.d_model, inner, bias=False)
        self.k = nn.Linear(cfg.d_model, inner, bias=False)
        self.v = nn.Linear(cfg.d_model, inner, bias=False)
        self.o = nn.Linear(inner, cfg.d_model, bias=False)
        self.attn_dropout = cfg.dropout

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.n_heads, self.d_head).transpose(1, 2)  # (B, T, H*dh) -> (B, H, T, dh)

    def project_kv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.heads(self.k(x)), self.heads(self.v(x))  # 2 x (B, H, S, dh)

    def attend(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Queries from ``x`` (N, T, d) against keys/values (B, H, S, dh) with N = g * B."""
        N, T, _ = x.shape
        B = k.shape[0]
        g = N // B
        q = self.heads(self.q(x))  # (N, H, T, dh)
        if g > 1:
            # rows g*b .. g*b+g-1 share source b: stack their queries instead of copying K/V g times
            q = q.view(B, g, self.n_heads, T, self.d_head).transpose(1, 2).reshape(B, self.n_heads, g * T, self.d_head)
        if mask is not None and mask.dtype != torch.bool:
            mask = mask.to(q.dtype)
        p = self.attn_dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # (B, H, g*T, dh)
        if g > 1:
            y = y.view(B, self.n_heads, g, T, self.d_head).transpose(1, 2)  # (B, g, H, T, dh)
        y = y.reshape(N, self.n_heads, T, self.d_head).transpose(1, 2).reshape(N, T, -1)  # (N, T, H*dh)
        return self.o(y)


class FeedForward(nn.Module):
    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.wi = nn.Linear(cfg.d_model, cfg.d_ff, bias=False)
        self.wo = nn.Linear(cfg.d_ff, cfg.d_model, bias=False)
        self.act = nn.ReLU() if cfg.activation == "relu" else nn.GELU()
        self.dropout = _dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.wo(self.dropout(self.act(self.wi(x))))


class EncoderLayer(nn.Module):
    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.norm1 = nn.RMSNorm(cfg.d_model, eps=1e-6)
        self.attn = Attention(cfg)
        self.norm2 = nn.RMSNorm(cfg.d_model, eps=1e-6)
        self.ff = FeedForward(cfg)
        self.dropout = _dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        k, v = self.attn.project_kv(h)
        x = x + self.dropout(self.attn.attend(h, k, v, mask))
        return x + self.dropout(self.ff(self.norm2(x)))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.norm1 = nn.RMSNorm(cfg.d_model, eps=1e-6)
        self.self_attn = Attention(cfg)
        self.norm2 = nn.RMSNorm(cfg.d_model, eps=1e-6)
        self.cross_attn = Attention(cfg)
        self.norm3 = nn.RMSNorm(cfg.d_model, eps=1e-6)
        self.ff = FeedForward(cfg)
        self.dropout = _dropout(cfg.dropout)

    def forward(
        self,
        x: torch.Tensor,
        self_mask: torch.Tensor,
        cross_kv: tuple[torch.Tensor, torch.Tensor],
        cross_mask: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Returns the new hidden states and this layer's self-attention keys/values (past + new)."""
        h = self.norm1(x)
        k, v = self.self_attn.project_kv(h)  # 2 x (N, H, T, dh)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)  # (N, H, t+T, dh)
        x = x + self.dropout(self.self_attn.attend(h, k, v, self_mask))
        x = x + self.dropout(self.cross_attn.attend(self.norm2(x), *cross_kv, cross_mask))
        return x + self.dropout(self.ff(self.norm3(x))), (k, v)


@dataclass
class DecoderCache:
    """Keys/values for incremental decoding. Self-attention entries have one row per decoder row
    (N, H, t, dh); cross-attention entries one row per encoded source (B, H, S, dh), computed once."""

    self_k: list[torch.Tensor]
    self_v: list[torch.Tensor]
    cross_k: list[torch.Tensor]
    cross_v: list[torch.Tensor]
    cross_mask: torch.Tensor  # (B, 1, 1, S) bool, True = real source token; or additive (B, H, 1, S)
    length: int = 0  # tokens decoded so far

    def reorder(self, index: torch.Tensor) -> DecoderCache:
        """Keep decoder rows ``index`` (N',); rows must stay grouped by source (row // g = source)."""
        return DecoderCache(
            [k.index_select(0, index) for k in self.self_k],
            [v.index_select(0, index) for v in self.self_v],
            self.cross_k, self.cross_v, self.cross_mask, self.length,
        )


class Generator(nn.Module):
    """Encoder-decoder over code tokens; PAD (0) source positions are masked everywhere."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.embed_dropout = _dropout(cfg.dropout)
        self.encoder_bias = RelativePositionBias(cfg, bidirectional=True)
        self.decoder_bias = RelativePositionBias(cfg, bidirectional=False)
        self.cross_bias = RelativePositionBias(cfg, bidirectional=False) if cfg.cross_position_bias else None
        self.encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_decoder_layers))
        self.encoder_norm = nn.RMSNorm(cfg.d_model, eps=1e-6)
        self.decoder_norm = nn.RMSNorm(cfg.d_model, eps=1e-6)
        self.lm_head = None if cfg.tie_embeddings else nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """T5's init (Mesh TF), adjusted for SDPA's 1/sqrt(d_head) score scaling."""
        d, inner = self.cfg.d_model, self.cfg.n_heads * self.cfg.d_head
        nn.init.normal_(self.embed.weight, std=1.0)
        for bias in (self.encoder_bias, self.decoder_bias, self.cross_bias):
            if bias is not None:
                nn.init.normal_(bias.bias.weight, std=d**-0.5)
        for module in self.modules():
            if isinstance(module, Attention):
                for lin in (module.q, module.k, module.v):
                    nn.init.normal_(lin.weight, std=d**-0.5)
                nn.init.normal_(module.o.weight, std=inner**-0.5)
            elif isinstance(module, FeedForward):
                nn.init.normal_(module.wi.weight, std=d**-0.5)
                nn.init.normal_(module.wo.weight, std=self.cfg.d_ff**-0.5)
        if self.lm_head is not None:
            nn.init.normal_(self.lm_head.weight, std=d**-0.5)

    @property
    def vocab_size(self) -> int:
        return self.cfg.vocab_size

    # ------------------------------------------------------------------ encoder

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Source tokens (B, S) -> memory (B, S, d). ``src_mask`` (True = real) defaults to src != PAD."""
        S = src.shape[1]
        if S > self.cfg.max_source_len:
            raise ValueError(f"source length {S} exceeds max_source_len {self.cfg.max_source_len}")
        if src_mask is None:
            src_mask = src != PAD
        pos = torch.arange(S, device=src.device)
        mask = self.encoder_bias(pos, pos)  # (1, H, S, S)
        if self.cfg.encoder_attention == "item-causal":
            slot = source_items(S, self.cfg.code_depth, src.device)
            later = slot[None, :] > slot[:, None]  # (S, S): the key's item comes after the query's
            mask = mask.masked_fill(later, _masked_value(mask.dtype))
        mask = mask.masked_fill(~src_mask[:, None, None, :], _masked_value(mask.dtype))  # (B, H, S, S)
        x = self.embed_dropout(self.embed(src))  # (B, S, d)
        for layer in self.encoder:
            x = layer(x, mask)
        return self.encoder_norm(x)

    # ------------------------------------------------------------------ decoder

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        h = self.decoder_norm(h)
        if self.lm_head is not None:
            return self.lm_head(h)
        return (h * self.cfg.d_model**-0.5) @ self.embed.weight.T  # T5 rescales before the tied output

    def _cross(
        self, memory: torch.Tensor, src_mask: torch.Tensor, row_mask: torch.Tensor | None = None, T: int = 1
    ) -> tuple[list, list, torch.Tensor]:
        """Cross-attention keys/values per layer, and the mask of the (B·g)·T stacked queries.

        ``row_mask`` (B·g, S) narrows what each of g rows per source reads (default: ``src_mask``, one row).
        The mask is bool (B, 1, g·T, S), or an additive float (B, H, g·T, S) with ``cross_position_bias``.
        """
        kv = [layer.cross_attn.project_kv(memory) for layer in self.decoder]  # per layer 2 x (B, H, S, dh)
        B, S = src_mask.shape
        if row_mask is None:
            T = 1  # one mask per source, broadcast over all its stacked queries
        visible = src_mask if row_mask is None else row_mask & src_mask.repeat_interleave(row_mask.shape[0] // B, dim=0)
        g = visible.shape[0] // B
        if self.cross_bias is None:
            mask = visible.view(B, g, 1, S).expand(B, g, T, S).reshape(B, 1, g * T, S)
        else:
            pos = torch.arange(S, device=memory.device)
            end = (visible * pos).amax(dim=1) + 1  # (B·g,): just past the last token each row reads
            bias = self.cross_bias(end, pos)  # (1, H, B·g, S): by distance from that end
            H = bias.shape[1]
            bias = bias.view(H, B, g, 1, S).permute(1, 0, 2, 3, 4).expand(B, H, g, T, S).reshape(B, H, g * T, S)
            hidden = ~visible.view(B, 1, g, 1, S).expand(B, 1, g, T, S).reshape(B, 1, g * T, S)
            mask = bias.masked_fill(hidden, _masked_value(bias.dtype))
        return [k for k, _ in kv], [v for _, v in kv], mask

    def decode(
        self,
        tgt_in: torch.Tensor,
        memory: torch.Tensor,
        src_mask: torch.Tensor,
        row_mask: torch.Tensor | None = None,
        parents: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """Teacher-forced decoding: (N, T) decoder inputs -> logits (N, T, vocab).

        ``N`` may be a multiple g of the memory's batch B; rows g*b .. g*b+g-1 then read source b.
        ``row_mask`` (N, S), True = visible, narrows each row's cross-attention to part of its source
        (an all-targets row reads only the items before its target); by default a row sees ``src_mask``.
        ``parents`` lays a row's T inputs out as a prefix tree instead of a sequence (see
        :func:`tree_layout`): several codes that share prefixes are scored in one row, each position
        computing what it would compute as the last input of its own root-to-node path.
        """
        N, T = tgt_in.shape
        if N % memory.shape[0]:
            raise ValueError(f"{N} decoder rows do not split evenly over {memory.shape[0]} sources")
        # the g rows of a source are stacked as g*T queries in `Attention.attend`: each row's mask repeats T times
        cross_k, cross_v, cross_mask = self._cross(memory, src_mask, row_mask, T)
        pos, visible = tree_layout(range(-1, T - 1) if parents is None else parents, tgt_in.device)
        self_mask = self.decoder_bias(pos, pos)  # (1, H, T, T): by depth, so a path sees the offsets a sequence would
        self_mask = self_mask.masked_fill(~visible, _masked_value(self_mask.dtype))
        x = self.embed_dropout(self.embed(tgt_in))  # (N, T, d)
        for i, layer in enumerate(self.decoder):
            x, _ = layer(x, self_mask, (cross_k[i], cross_v[i]), cross_mask)
        return self.logits(x)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Logits for teacher-forced targets: tgt_in (B, T) -> (B, T, V), or (B, g, T) -> (B, g, T, V)
        with the g targets of a row sharing one encoder pass."""
        src_mask = src != PAD
        memory = self.encode(src, src_mask)
        if tgt_in.dim() == 3:
            B, g, T = tgt_in.shape
            return self.decode(tgt_in.reshape(B * g, T), memory, src_mask).view(B, g, T, -1)
        return self.decode(tgt_in, memory, src_mask)

    def init_cache(self, memory: torch.Tensor, src_mask: torch.Tensor) -> DecoderCache:
        """An empty cache whose cross-attention keys/values are computed once from ``memory``."""
        cross_k, cross_v, cross_mask = self._cross(memory, src_mask)
        return DecoderCache([], [], cross_k, cross_v, cross_mask, 0)

    def decode_step(
        self, tokens: torch.Tensor, cache: DecoderCache | None, memory: torch.Tensor, src_mask: torch.Tensor
    ) -> tuple[torch.Tensor, DecoderCache]:
        """Feed one token per decoder row (N,) and get the next-token logits (N, V).

        Equals ``decode(prefix)[:, -1]`` for the prefix fed so far, without re-running it: each
        layer appends this step's keys/values to ``cache``. ``N`` may be g x the memory's batch
        (rows grouped by source, as in :meth:`decode`); pass ``cache=None`` on the first step, which
        projects ``memory`` into the cross-attention keys/values once (later steps only read the cache).
        """
        if cache is None:
            cache = self.init_cache(memory, src_mask)
        t = cache.length
        all_pos = torch.arange(t + 1, device=tokens.device)
        self_mask = self.decoder_bias(all_pos[-1:], all_pos)  # (1, H, 1, t+1): the past needs no causal mask
        x = self.embed_dropout(self.embed(tokens))[:, None, :]  # (N, 1, d)
        self_k, self_v = [], []
        for i, layer in enumerate(self.decoder):
            past = (cache.self_k[i], cache.self_v[i]) if t > 0 else None
            x, (k, v) = layer(x, self_mask, (cache.cross_k[i], cache.cross_v[i]), cache.cross_mask, past)
            self_k.append(k)  # (N, H, t+1, dh)
            self_v.append(v)
        cache = DecoderCache(self_k, self_v, cache.cross_k, cache.cross_v, cache.cross_mask, t + 1)
        return self.logits(x[:, 0]), cache
