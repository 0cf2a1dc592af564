"""RQ-VAE: an MLP auto-encoder whose latent is quantised by a stack of residual codebooks.

References:
1) N. Zeghidour et al., "SoundStream: An End-to-End Neural Audio Codec", 2021 (arXiv:2107.03312)
   -- residual vector quantisation, k-means codebook initialisation, dead-code restarts.
2) S. Rajput et al., "Recommender Systems with Generative Retrieval", NeurIPS 2023
   (arXiv:2305.05065) -- TIGER's semantic IDs: encoder 512-256-128 -> 32-d latent, 3 levels x 256
   codes, beta = 0.25, k-means initialisation on the first batch.
3) A. van den Oord et al., "Neural Discrete Representation Learning", NeurIPS 2017
   (arXiv:1711.00937) -- straight-through estimator, codebook and commitment losses.

Choices where the papers leave room (switchable through :class:`RQVAEConfig` where it matters):
- Losses are squared errors summed over feature dimensions and averaged over the batch, so their
  scale does not depend on the embedding width. The quantisation loss per level is
  ``||sg(r) - e||^2 + beta * ||r - sg(e)||^2``; it is reported as ``commit_loss``.
- The residual passed to level l+1 subtracts the *detached* codeword: each codebook learns only
  from its own codebook loss, and the encoder is pulled by every level's commitment term.
- Codebooks are initialised by faiss k-means (k-means++ seeding) level by level on the latents of
  a seeded sample of up to ``kmeans_init_samples`` items, not only the first batch: a larger
  sample gives better-spread codes at no real cost.
- A code chosen fewer than ``restart_threshold`` times in an epoch is re-seeded with a random
  latent residual from a fresh random batch (not after the last epoch, so the returned model is
  the trained one).
- Adam rather than TIGER's Adagrad (lr 0.4): it converges in tens of epochs at lr 1e-3.

The pieces (encoder, :class:`ResidualQuantizer`, decoder, :func:`rqvae_loss`, codebook init and
restart methods) are separate so FlexCode can train two RQ-VAEs jointly with an alignment term.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from flexcode_bench import console
from flexcode_bench.device import resolve_device
from flexcode_bench.errors import ConfigError, DataFormatError
from flexcode_bench.recommender import EpochReport, OnEpoch
from flexcode_bench.seeding import seed_everything
from flexcode_bench.tokenizers.rqkmeans import codebook_usage, kmeans_centroids, nearest

__all__ = [
    "RQVAE",
    "RQVAEConfig",
    "RQVAEOutput",
    "ResidualQuantizer",
    "codebook_usage",
    "encode",
    "fit_rqvae",
    "rqvae_loss",
]


@dataclass
class RQVAEConfig:
    input_dim: int = 384  # embedding width (384 for the default MiniLM encoder)
    hidden_dims: tuple[int, ...] = (512, 256, 128)  # encoder widths; the decoder mirrors them
    code_dim: int = 32  # latent width the codebooks live in
    levels: int = 3
    codebook_size: int = 256
    beta: float = 0.25  # commitment weight
    lr: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 50  # 0 returns the k-means-initialised model untrained
    batch_size: int = 1024
    kmeans_init: bool = True
    kmeans_init_samples: int = 65_536  # items whose latents seed the k-means init (all when fewer)
    kmeans_iters: int = 25
    dead_code_restart: bool = True
    restart_threshold: int = 1  # a code chosen fewer times than this in an epoch is dead
    seed: int = 0

    def __post_init__(self) -> None:
        self.hidden_dims = tuple(int(h) for h in self.hidden_dims)  # YAML gives a list
        for name in ("input_dim", "code_dim", "levels", "codebook_size", "batch_size", "kmeans_init_samples", "kmeans_iters"):
            if getattr(self, name) < 1:
                raise ConfigError(f"RQ-VAE {name} must be >= 1, got {getattr(self, name)}")
        if any(h < 1 for h in self.hidden_dims):
            raise ConfigError(f"RQ-VAE hidden_dims must be positive, got {self.hidden_dims}")
        if self.epochs < 0 or self.restart_threshold < 0 or self.beta < 0 or self.lr <= 0:
            raise ConfigError("RQ-VAE epochs, restart_threshold and beta must be >= 0 and lr > 0")


@dataclass
class QuantizerOutput:
    quantized: torch.Tensor  # [B, D] straight-through: value = sum of codewords, gradient -> latent
    codes: torch.Tensor  # int64 [B, L]
    loss: torch.Tensor  # scalar, codebook + beta * commitment, summed over levels


@dataclass
class RQVAEOutput:
    reconstruction: torch.Tensor  # [B, input_dim]
    codes: torch.Tensor  # int64 [B, L]
    quantized: torch.Tensor  # [B, code_dim]
    loss: torch.Tensor  # recon_loss + commit_loss
    recon_loss: torch.Tensor
    commit_loss: torch.Tensor
    latent: torch.Tensor  # [B, code_dim] encoder output before quantisation


def mlp(dims: Sequence[int]) -> nn.Sequential:
    """Linear layers with ReLU between them; none after the last (latents and inputs are unbounded)."""
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(pairwise(dims)):
        layers.append(nn.Linear(d_in, d_out))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class ResidualQuantizer(nn.Module):
    """``levels`` codebooks of ``codebook_size`` vectors; level l quantises what levels < l left."""

    def __init__(self, levels: int, codebook_size: int, code_dim: int, beta: float = 0.25) -> None:
        super().__init__()
        self.levels, self.codebook_size, self.beta = levels, codebook_size, beta
        # Small uniform init as in VQ-VAE; k-means init normally overwrites it before training.
        bound = 1.0 / codebook_size
        self.codebooks = nn.Parameter(torch.empty(levels, codebook_size, code_dim).uniform_(-bound, bound))
        # How often each code was chosen in training since the last reset: drives dead-code restarts.
        self.register_buffer("usage", torch.zeros(levels, codebook_size, dtype=torch.long), persistent=False)

    def nearest(self, residual: torch.Tensor, level: int) -> torch.Tensor:
        """int64 [B]: the closest code of ``level`` to each residual row (no gradient)."""
        with torch.no_grad():
            book = self.codebooks[level]  # [K, D]
            # ||r - e||^2 up to ||r||^2, which is the same for every code of a row
            dist = book.pow(2).sum(-1) - 2 * residual @ book.T  # [B, K]
            return dist.argmin(-1)

    def forward(self, z: torch.Tensor) -> QuantizerOutput:
        residual = z
        quantized = torch.zeros_like(z)
        codes, loss = [], z.new_zeros(())
        for level in range(self.levels):
            idx = self.nearest(residual, level)  # [B]
            # [B, D], carries the codebook gradient. An embedding lookup, not codebooks[level][idx]: on a CPU
            # with several threads the indexing backward sums each code's rows in thread order, and a
            # same-seed run then gave other codes; the embedding backward is repeatable.
            e = F.embedding(idx, self.codebooks[level])
            # codebook term moves e towards the (frozen) residual; commitment term holds the encoder to e
            loss = loss + (residual.detach() - e).pow(2).sum(-1).mean()
            loss = loss + self.beta * (residual - e.detach()).pow(2).sum(-1).mean()
            quantized = quantized + e.detach()
            residual = residual - e.detach()
            codes.append(idx)
            if self.training:
                self.usage[level] += torch.bincount(idx, minlength=self.codebook_size)
        # Straight-through: the decoder sees the codewords, its gradient lands on z unchanged.
        quantized = z + (quantized - z).detach()
        return QuantizerOutput(quantized=quantized, codes=torch.stack(codes, dim=1), loss=loss)

    @torch.no_grad()
    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """int64 [B, L] greedy residual codes of latents ``z`` [B, D]."""
        residual, codes = z, []
        for level in range(self.levels):
            idx = self.nearest(residual, level)
            residual = residual - self.codebooks[level][idx]
            codes.append(idx)
        return torch.stack(codes, dim=1)

    @torch.no_grad()
    def init_kmeans(self, z: torch.Tensor, *, seed: int, niter: int = 25) -> None:
        """Set each level's codebook to k-means centroids of that level's residuals of ``z`` [n, D].

        With fewer than ``codebook_size`` points, k is clamped (warning) and the spare codes copy
        random residuals; they stay unused until a restart or training moves them.
        """
        residual = z.detach().float().cpu().numpy().copy()
        k = min(self.codebook_size, len(residual))
        if k < self.codebook_size:
            console.warning(f"RQ-VAE k-means init: {len(residual)} points < codebook size {self.codebook_size}; k={k}")
        rng = np.random.default_rng(seed)
        for level in range(self.levels):
            centroids = kmeans_centroids(residual, k, seed=seed + level, niter=niter)  # [k, D]
            if k < self.codebook_size:
                spare = residual[rng.integers(0, len(residual), self.codebook_size - k)]
                centroids = np.concatenate([centroids, spare])  # [K, D]
            self.codebooks.data[level] = torch.from_numpy(centroids).to(self.codebooks.device)
            residual -= centroids[nearest(residual, centroids)]
        self.usage.zero_()

    @torch.no_grad()
    def restart_dead_codes(self, z: torch.Tensor, *, threshold: int = 1, generator: torch.Generator | None = None) -> list[int]:
        """Re-seed codes used fewer than ``threshold`` times since the last reset with random residuals of ``z``.

        Levels go in order, so level l draws from residuals under the already-restarted levels < l.
        Resets the usage counts; returns the number of codes restarted per level.
        """
        residual, restarted = z.detach(), []
        for level in range(self.levels):
            dead = (self.usage[level] < threshold).nonzero().squeeze(1)  # [n_dead]
            n, n_dead = len(residual), len(dead)
            if n_dead and n:
                # distinct rows when the batch allows, so restarted codes do not start as duplicates
                pick = torch.randperm(n, generator=generator)[:n_dead] if n >= n_dead else torch.randint(n, (n_dead,), generator=generator)
                self.codebooks.data[level, dead] = residual[pick.to(residual.device)]
            restarted.append(int(n_dead))
            residual = residual - self.codebooks[level][self.nearest(residual, level)]
        self.usage.zero_()
        return restarted


def rqvae_loss(x: torch.Tensor, reconstruction: torch.Tensor, commit_loss: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(total, reconstruction) loss; FlexCode adds its alignment term to ``total``.

    Reconstruction is the squared error summed over features, averaged over the batch.
    """
    recon = (reconstruction - x).pow(2).sum(-1).mean()
    return recon + commit_loss, recon


class RQVAE(nn.Module):
    """Encoder MLP -> residual quantiser -> decoder MLP."""

    def __init__(self, config: RQVAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = mlp([config.input_dim, *config.hidden_dims, config.code_dim])
        self.quantizer = ResidualQuantizer(config.levels, config.codebook_size, config.code_dim, config.beta)
        self.decoder = mlp([config.code_dim, *reversed(config.hidden_dims), config.input_dim])

    def forward(self, x: torch.Tensor) -> RQVAEOutput:
        z = self.encoder(x)  # [B, code_dim]
        q = self.quantizer(z)
        reconstruction = self.decoder(q.quantized)  # [B, input_dim]
        loss, recon = rqvae_loss(x, reconstruction, q.loss)
        return RQVAEOutput(reconstruction, q.codes, q.quantized, loss, recon, q.loss, z)

    @torch.no_grad()
    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """int64 [B, L] semantic codes of inputs ``x`` [B, input_dim]."""
        return self.quantizer.codes(self.encoder(x))

    @torch.no_grad()
    def init_codebooks(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> None:
        """k-means init of every level from the latents of a seeded sample of ``x`` (all of it when small)."""
        cfg = self.config
        sample = torch.randperm(len(x), generator=generator)[: cfg.kmeans_init_samples].to(x.device)
        self.quantizer.init_kmeans(self.encoder(x[sample]), seed=cfg.seed, niter=cfg.kmeans_iters)

    @torch.no_grad()
    def restart_dead_codes(self, x: torch.Tensor, *, generator: torch.Generator | None = None) -> list[int]:
        """Dead-code restart from the latents of the batch ``x``; see :meth:`ResidualQuantizer.restart_dead_codes`."""
        return self.quantizer.restart_dead_codes(self.encoder(x), threshold=self.config.restart_threshold, generator=generator)


def fit_rqvae(embeddings: np.ndarray, config: RQVAEConfig, device: str = "cpu", on_epoch: OnEpoch | None = None) -> RQVAE:
    """Train an RQ-VAE on ``embeddings`` [n, input_dim]; deterministic for ``config.seed`` on one CPU at a given thread count.

    ``on_epoch`` receives an :class:`EpochReport` whose ``extra`` holds ``recon_loss``,
    ``commit_loss``, ``used_l{l}`` (codes chosen this epoch) and ``restarted_l{l}`` per level.
    """
    x_np = _check_embeddings(embeddings, config.input_dim)
    seed_everything(config.seed)
    model = RQVAE(config).to(resolve_device(device))
    x = torch.from_numpy(x_np).to(next(model.parameters()).device)
    # One CPU generator for shuffles, samples and restarts: the same stream on any device.
    gen = torch.Generator().manual_seed(config.seed)
    if config.kmeans_init:
        model.init_codebooks(x, generator=gen)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n, bs = len(x), config.batch_size
    with console.progress() as bar:
        task = bar.add_task("RQ-VAE", total=config.epochs)
        for epoch in range(1, config.epochs + 1):
            start = time.perf_counter()
            model.train()
            model.quantizer.usage.zero_()
            totals = np.zeros(3)  # summed loss, recon, commit, weighted by batch size
            for idx in torch.randperm(n, generator=gen).to(x.device).split(bs):
                out = model(x[idx])
                opt.zero_grad(set_to_none=True)
                out.loss.backward()
                opt.step()
                totals += len(idx) * np.array([out.loss.item(), out.recon_loss.item(), out.commit_loss.item()])
            used = (model.quantizer.usage > 0).sum(1).tolist()
            restarted = [0] * config.levels
            if config.dead_code_restart and epoch < config.epochs:
                batch = torch.randperm(n, generator=gen)[: max(bs, config.codebook_size)].to(x.device)
                restarted = model.restart_dead_codes(x[batch], generator=gen)
            bar.advance(task)
            if on_epoch is not None:
                extra = {"recon_loss": totals[1] / n, "commit_loss": totals[2] / n}
                extra |= {f"used_l{level}": float(u) for level, u in enumerate(used)}
                extra |= {f"restarted_l{level}": float(r) for level, r in enumerate(restarted)}
                on_epoch(EpochReport(epoch, float(totals[0] / n), None, time.perf_counter() - start, extra))
    model.eval()
    return model


def encode(model: RQVAE, embeddings: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """int64 [n, levels] codes of ``embeddings`` under a trained ``model``."""
    x_np = _check_embeddings(embeddings, model.config.input_dim)
    device = next(model.parameters()).device
    out = np.empty((len(x_np), model.config.levels), dtype=np.int64)
    for start in range(0, len(x_np), batch_size):
        chunk = torch.from_numpy(x_np[start : start + batch_size]).to(device)
        out[start : start + len(chunk)] = model.codes(chunk).cpu().numpy()
    return out


def _check_embeddings(embeddings: np.ndarray, input_dim: int) -> np.ndarray:
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != input_dim:
        raise DataFormatError(f"RQ-VAE expects embeddings of shape [n, {input_dim}], got {x.shape}", hint="set RQVAEConfig.input_dim to the embedding width")
    if len(x) == 0:
        raise DataFormatError("RQ-VAE got an empty embedding matrix")
    if not np.isfinite(x).all():
        raise DataFormatError("embeddings contain NaN or infinite values", hint="re-run the embedding step")
    return x
