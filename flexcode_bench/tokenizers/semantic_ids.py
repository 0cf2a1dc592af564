"""The semantic-ID tokeniser's options, declared once for every model that codes items from their text.

TIGER and FlexCode both embed item text (``text_encoder``) and quantise it with an RQ-VAE into
``levels`` codes of ``codebook_size`` each; their configs inherit these fields, so an override such
as ``levels`` means the same in both and the keys (and so the config hashes) stay flat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flexcode_bench.config import DEFAULT_ENCODER


@dataclass
class SemanticIdConfig:
    text_encoder: str = DEFAULT_ENCODER
    levels: int = 3  # codes per item before the collision token (FlexCode's token budget L)
    codebook_size: int = 256
    rqvae_epochs: int = 50
    rqvae_batch_size: int = 1024


PROFILES: dict[str, dict[str, Any]] = {
    # tests: a tiny codebook; tf-idf text vectors avoid loading a transformer.
    "smoke": dict(codebook_size=16, rqvae_epochs=5, text_encoder="tfidf-svd"),
    "quick": dict(rqvae_epochs=20),
    # 1,000 epochs (about 5.5 min on amazon-beauty, 2 cores): at 50 the RQ-VAE is far from converged and its
    # codes keep 43% of an item's 10 nearest text neighbours under its first code, against 64% at 1,000
    # (bench/rqvae_epochs.py); TIGER's validation Recall@10 over all users rose by 0.0099 on average over
    # three seeds (README, "Where TIGER's gap is").
    "cpu": dict(rqvae_epochs=1000),
    "paper": dict(rqvae_epochs=20_000),  # the TIGER paper's RQ-VAE budget
}
