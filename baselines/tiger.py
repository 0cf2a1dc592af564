"""TIGER-style single-codebook generative retriever.

Rajput et al., "Recommender Systems with Generative Retrieval", NeurIPS 2023. Item text → sentence
embedding → RQ-VAE (3 levels × 256 codes, k-means initialisation, β = 0.25) → semantic ID, plus a
4th token that separates colliding items; a T5-style encoder-decoder generates the next item's ID
and constrained beam search returns valid items only. The generator, training loop and decoding
are shared with FlexCode (:mod:`flexcode_bench.models.generative`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from flexcode_bench.config import resolve_dataclass
from flexcode_bench.data.prepared import PreparedDataset
from flexcode_bench.errors import ConfigError
from flexcode_bench.models.generative import PROFILES as GENERATIVE_PROFILES
from flexcode_bench.models.generative import GenerativeConfig, GenerativeRetriever


@dataclass
class TigerConfig(GenerativeConfig):
    # TIGER's ID ablations (its Table 4): "atomic" gives every item one token of its own, "random" draws
    # codes of the semantic IDs' shape at random; both keep the generator, backbone and recipe.
    item_ids: Literal["semantic", "atomic", "random"] = "semantic"
    text_encoder: str = "all-MiniLM-L6-v2"
    quantizer: Literal["rqvae", "rqkmeans"] = "rqvae"
    levels: int = 3
    codebook_size: int = 256
    rqvae_epochs: int = 50
    rqvae_batch_size: int = 1024


PROFILES = GENERATIVE_PROFILES  # TIGER adds nothing to the shared generator budget


class Tiger(GenerativeRetriever):
    config: TigerConfig

    def build_codes(self, data: PreparedDataset, *, device: str, seed: int) -> None:
        from flexcode_bench.tokenizers.collisions import build_item_codes
        from flexcode_bench.tokenizers.rqvae import codebook_usage
        from flexcode_bench.tokenizers.vocabulary import Vocabulary

        cfg = self.config
        if cfg.item_ids == "atomic":
            self.vocabulary = Vocabulary()
            start = self.vocabulary.add("item", data.n_items)
            self.item_tokens = (start + np.arange(data.n_items, dtype=np.int64))[:, None]
            self.diagnostics.update({"item_ids": "atomic", "code_depth": 1})
            return
        if cfg.item_ids == "random":
            size = min(cfg.codebook_size, data.n_items)
            codes = np.random.default_rng(seed).integers(0, size, size=(data.n_items, cfg.levels))
            usage = codebook_usage(codes, size)
        else:
            codes, usage = semantic_codes(data, cfg, device=device, seed=seed)
        vocabulary = Vocabulary()
        for level in range(cfg.levels):
            vocabulary.add(("semantic", level), cfg.codebook_size)  # the full range, so unseen codes stay legal
        item_codes = build_item_codes([(("semantic", level), codes[:, level]) for level in range(cfg.levels)], vocabulary)
        self.vocabulary, self.item_tokens = item_codes.vocabulary, item_codes.tokens
        self.diagnostics.update(
            {"item_ids": cfg.item_ids, "collisions": item_codes.collision_stats(), "codebook_usage": {"semantic": usage},
             "code_depth": item_codes.depth}
        )


def semantic_codes(data: PreparedDataset, cfg, *, device: str, seed: int) -> tuple[np.ndarray, list[dict]]:
    """Quantise the items' text embeddings into ``cfg.levels`` codes each; also returns per-level usage."""
    from flexcode_bench.data.embeddings import dataset_text_embeddings
    from flexcode_bench.tokenizers.rqvae import RQVAEConfig, codebook_usage, encode, fit_rqvae

    embeddings = dataset_text_embeddings(data, encoder=cfg.text_encoder, device=device)
    codebook_size = min(cfg.codebook_size, data.n_items)
    if cfg.quantizer == "rqkmeans":
        from flexcode_bench.tokenizers.rqkmeans import ResidualKMeans

        codes = ResidualKMeans(cfg.levels, codebook_size, seed=seed).fit(embeddings).encode(embeddings)
    else:
        rq_config = RQVAEConfig(input_dim=embeddings.shape[1], levels=cfg.levels, codebook_size=codebook_size,
                                epochs=cfg.rqvae_epochs, batch_size=cfg.rqvae_batch_size, seed=seed)  # fmt: skip
        codes = encode(fit_rqvae(embeddings, rq_config, device=device), embeddings)
    return codes, codebook_usage(codes, codebook_size)


def build(profile: str, overrides: Mapping[str, Any]) -> Tiger:
    return Tiger(resolve_dataclass(TigerConfig, PROFILES, profile, overrides))


def _id_ablation(item_ids: str) -> Callable[[str, Mapping[str, Any]], Tiger]:
    def build_variant(profile: str, overrides: Mapping[str, Any]) -> Tiger:
        if overrides.get("item_ids", item_ids) != item_ids:
            raise ConfigError(f"tiger-{item_ids} fixes item_ids = {item_ids!r}; got an override {overrides['item_ids']!r}",
                              hint="drop the override, or run plain 'tiger' with it")  # fmt: skip
        return build(profile, {**overrides, "item_ids": item_ids})

    return build_variant


build_atomic = _id_ablation("atomic")
build_random = _id_ablation("random")


__all__ = ["PROFILES", "Tiger", "TigerConfig", "build", "build_atomic", "build_random", "semantic_codes"]
