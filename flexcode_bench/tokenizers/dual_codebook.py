"""FlexCode's two codebooks: a semantic RQ-VAE over item-text embeddings and a collaborative RQ-VAE
over CF item embeddings, trained jointly with a cross-codebook alignment loss.

Alignment (DESIGN §4): InfoNCE between the two RQ-VAEs' reconstructions, each through a small
projection head, with in-batch negatives, symmetric, temperature τ and weight λ_align::

    L = L_rq(sem) + L_rq(cf) + λ_align · ½ (CE(S, I) + CE(Sᵀ, I)),   S_ij = <p_s(x̂_sem_i), p_c(x̂_cf_j)> / τ

with p_· L2-normalised projections. λ_align = 0 is the ``no-align`` ablation (the two RQ-VAEs are
then trained independently, by the same loop).

Then :func:`split_token_table` lays out, for every split k = 0..L, each item's full code: k CF tokens
(levels 0..k-1), L − k semantic tokens (levels 0..L-k-1), then a collision token. Each (codebook,
level) has its own id range, so a code says its own split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from flexcode_bench import console
from flexcode_bench.tokenizers.rqvae import RQVAE, RQVAEConfig, codebook_usage, encode
from flexcode_bench.tokenizers.vocabulary import Vocabulary

CF, SEMANTIC = "cf", "semantic"


@dataclass
class DualCodebookConfig:
    levels: int = 3  # the token budget L (before the collision token)
    codebook_size: int = 256
    epochs: int = 50
    batch_size: int = 1024
    align_weight: float = 0.1  # λ_align; 0 = the no-align ablation
    align_temperature: float = 0.1
    projection_dim: int = 64
    seed: int = 0


@dataclass
class DualCodes:
    semantic: np.ndarray  # int64 [n_items, L] local codes
    cf: np.ndarray  # int64 [n_items, L] local codes
    usage: dict  # {"semantic": [...per level], "cf": [...]}
    final_align_loss: float


def fit_dual_codebook(
    text_embeddings: np.ndarray, cf_embeddings: np.ndarray, config: DualCodebookConfig, *, device: str = "cpu"
) -> DualCodes:
    """Train both RQ-VAEs (and the alignment heads) jointly; return each item's codes in both codebooks."""
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    size = min(config.codebook_size, len(text_embeddings))

    def rq(dim: int) -> RQVAE:
        return RQVAE(RQVAEConfig(input_dim=dim, levels=config.levels, codebook_size=size, seed=config.seed)).to(device)

    x_sem = torch.from_numpy(np.ascontiguousarray(text_embeddings, dtype=np.float32)).to(device)
    x_cf = torch.from_numpy(np.ascontiguousarray(cf_embeddings, dtype=np.float32)).to(device)
    x_cf = x_cf / x_cf.norm(dim=1, keepdim=True).clamp_min(1e-8)  # CF tables have arbitrary scale; texts are unit-norm
    sem, cf = rq(x_sem.shape[1]), rq(x_cf.shape[1])
    proj_sem = nn.Linear(x_sem.shape[1], config.projection_dim).to(device)
    proj_cf = nn.Linear(x_cf.shape[1], config.projection_dim).to(device)
    sem.init_codebooks(x_sem, generator=gen)
    cf.init_codebooks(x_cf, generator=gen)
    params = [*sem.parameters(), *cf.parameters(), *proj_sem.parameters(), *proj_cf.parameters()]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    n = len(x_sem)
    align_total = 0.0
    with console.progress() as bar:
        task = bar.add_task("dual RQ-VAE", total=config.epochs)
        for epoch in range(1, config.epochs + 1):
            sem.train(), cf.train()
            sem.quantizer.usage.zero_(), cf.quantizer.usage.zero_()
            align_total = 0.0
            for idx in torch.randperm(n, generator=gen).to(device).split(config.batch_size):
                out_sem, out_cf = sem(x_sem[idx]), cf(x_cf[idx])
                align = alignment_loss(proj_sem(out_sem.reconstruction), proj_cf(out_cf.reconstruction), config.align_temperature)
                loss = out_sem.loss + out_cf.loss + config.align_weight * align
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                align_total += float(align.detach()) * len(idx)
            if epoch < config.epochs:  # revive dead codes from a fresh random batch, as fit_rqvae does
                batch = torch.randperm(n, generator=gen)[: max(config.batch_size, size)].to(device)
                sem.restart_dead_codes(x_sem[batch], generator=gen)
                cf.restart_dead_codes(x_cf[batch], generator=gen)
            bar.advance(task)
    sem.eval(), cf.eval()
    codes_sem = encode(sem, x_sem.cpu().numpy())
    codes_cf = encode(cf, x_cf.cpu().numpy())
    usage = {SEMANTIC: codebook_usage(codes_sem, size), CF: codebook_usage(codes_cf, size)}
    return DualCodes(codes_sem, codes_cf, usage, align_total / n)


def alignment_loss(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE with in-batch negatives: row i of ``a`` should match row i of ``b``."""
    a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
    logits = a @ b.T / temperature  # (B, B)
    labels = torch.arange(len(a), device=a.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def split_vocabulary(levels: int, codebook_size: int) -> Vocabulary:
    """One range per (codebook, level), reserved in full so any code of either codebook is legal."""
    vocabulary = Vocabulary()
    for codebook in (CF, SEMANTIC):
        for level in range(levels):
            vocabulary.add((codebook, level), codebook_size)
    return vocabulary


def split_token_table(codes: DualCodes, vocabulary: Vocabulary) -> np.ndarray:
    """int64 [L + 1, n_items, L + 1]: row k holds every item's full code under split k.

    The collision token of item i under split k is its index (in item-id order) among the items
    whose split-k prefix equals its own. Two items with different splits differ in the block of
    some position, so codes stay unique under any mix of splits, and a mixed assignment never
    needs a collision index larger than the largest pure-split one (the block is sized for that).
    """
    from flexcode_bench.tokenizers.collisions import assign_collision_tokens

    n, levels = codes.semantic.shape
    prefixes = np.empty((levels + 1, n, levels), dtype=np.int64)
    for k in range(levels + 1):
        for position in range(levels):
            if position < k:
                prefixes[k, :, position] = vocabulary.token((CF, position), codes.cf[:, position])
            else:
                prefixes[k, :, position] = vocabulary.token((SEMANTIC, position - k), codes.semantic[:, position - k])
    collisions = np.stack([assign_collision_tokens(prefixes[k]) for k in range(levels + 1)])  # (L+1, n)
    collision_start = vocabulary.add("collision", int(collisions.max()) + 1)
    return np.concatenate([prefixes, collision_start + collisions[:, :, None]], axis=2)
