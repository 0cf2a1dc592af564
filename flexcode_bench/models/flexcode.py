"""FlexCode: a generative recommender whose items are coded by two codebooks under one token budget.

Hui et al., "Semantics Meet Signals: Dual Codebook Representation Learning for Generative
Recommendation" (FlexCode), arXiv:2511.20673, 2025. The paper leaves token layout, router features,
loss forms and schedule open; the choices below are flexbench's, each a config switch (DESIGN §4).

Pipeline (everything fitted for tokenisation sees the training split only):

1. Semantic codebook: RQ-VAE over item-text embeddings (L levels). Collaborative codebook: RQ-VAE
   over item embeddings of a SASRec trained on the training split (L levels). Both are trained
   jointly with an InfoNCE alignment between their reconstructions (weight λ_align).
2. Router: an MLP over training-split item features gives each item a CF share α_i and a
   distribution over splits k = 0..L, Binomial(L, α_i). Item i's code under split k is k CF tokens,
   L − k semantic tokens and a collision token; every (codebook, level) has its own token range.
3. Generator (shared with TIGER): the loss on each target item is the expectation over its splits,

       L = E_{k ~ P_router(·|target)}[ NLL_k(target) ] + w_bal · (mean_i α_i − α*)² + w_smooth · mean_j (α_(j+1) − α_(j))²

   where (j) orders items by training popularity, so neighbours in popularity get similar shares.
   History items are written with their current hard split. At inference the split is hard (the
   mode) and the trie holds the variable-composition codes.

Ablations are configs of this class (see :mod:`flexcode_bench.ablations`): a fixed split for all
items (``no-moe``, ``fixed-k<k>``), no alignment (``no-align``) and a popularity-bucket rule.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from flexcode_bench.data.prepared import PreparedDataset
from flexcode_bench.models.generative import PROFILES as GENERATIVE_PROFILES
from flexcode_bench.models.generative import GenerativeConfig, GenerativeRetriever
from flexcode_bench.models.spec import ModelSpec, layered_profiles
from flexcode_bench.tokenizers.semantic_ids import PROFILES as SEMANTIC_ID_PROFILES
from flexcode_bench.tokenizers.semantic_ids import SemanticIdConfig
from flexcode_bench.tokenizers.vocabulary import BOS

if TYPE_CHECKING:
    from flexcode_bench.tokenizers.router import Router


@dataclass
class FlexCodeConfig(GenerativeConfig, SemanticIdConfig):
    """The generator's and the semantic codebook's options (``levels`` is the token budget L, plus one
    collision token; the collaborative codebook has the same shape), then FlexCode's own."""

    align_weight: float = 0.1  # λ_align
    align_temperature: float = 0.1
    router: Literal["learned", "fixed", "popularity-rule"] = "learned"
    fixed_split: int | None = None  # CF tokens per item when router = "fixed" (None = ⌊L/2⌋)
    router_hidden: int = 32
    router_temperature: float = 1.0
    # The expected loss pulls α towards whichever codebook is easier to predict with a gradient of order
    # L·ΔNLL (a few nats); at w_bal = 0.1 the term was ~0.2% of the loss and on amazon-beauty every item
    # went all-CF (α > 0.999). At 10, 2·w_bal·(ᾱ − α*) is of the same order and holds the mean.
    balance_weight: float = 10.0
    balance_target: float = 0.5  # α*: the mean CF share the balance term pulls towards
    smooth_weight: float = 0.1
    cf_profile: str = "quick"  # SASRec profile of the CF model
    cf_epochs: int = 20  # fixed: no validation-based early stopping for anything used in tokenisation

    def __post_init__(self) -> None:
        if self.fixed_split is not None and not 0 <= self.fixed_split <= self.levels:
            from flexcode_bench.errors import ConfigError

            raise ConfigError(f"fixed_split must be in 0..{self.levels}, got {self.fixed_split}")


# TIGER's generator and codebook budgets plus the CF model's (its SASRec profile and fixed epoch count).
PROFILES = layered_profiles(GENERATIVE_PROFILES, SEMANTIC_ID_PROFILES, {
    "smoke": dict(cf_profile="smoke", cf_epochs=2), "quick": dict(cf_epochs=10),
    "cpu": dict(cf_profile="cpu", cf_epochs=20), "paper": dict(cf_profile="paper", cf_epochs=100),
})  # fmt: skip


@dataclass(frozen=True)
class SplitTrie:
    """The decoder inputs of an item's L + 1 split codes, merged where they share a prefix.

    Split k's code is k CF tokens, then L − k semantic ones, then the collision token, so two splits
    share exactly their common CF prefix: the first t tokens of a code are one node for all splits
    k ≥ t and split k's own for k < t. That is (L+1)(L+2)/2 decoder inputs instead of (L+1)² (10 against
    16 at L = 3), and each node sees what its split's own row would see, so each split's NLL is unchanged.
    """

    parents: tuple[int, ...]  # (T,) each node's parent node, -1 for the root (BOS)
    input_split: torch.Tensor  # (T-1,) for nodes 1.., the split whose code supplies the node's input token
    input_position: torch.Tensor  # (T-1,) ... and that token's position in the code
    node_of: torch.Tensor  # (L+1, depth) the node that predicts split k's token t

    @classmethod
    def of(cls, levels: int, device: torch.device | str = "cpu") -> SplitTrie:
        depth = levels + 1  # L tokens and the collision token
        index: dict[tuple[int, int], int] = {}  # (prefix length t, split, or -1 when shared) -> node
        parents, splits, positions = [], [], []
        for t in range(depth):  # by prefix length, so a parent always precedes its children
            for k in range(levels + 1):
                key = (t, k if k < t else -1)
                if key in index:
                    continue
                index[key] = len(parents)
                parents.append(-1 if t == 0 else index[(t - 1, k if k < t - 1 else -1)])
                splits.append(k)
                positions.append(t - 1)
        node_of = [[index[(t, k if k < t else -1)] for t in range(depth)] for k in range(levels + 1)]
        return cls(tuple(parents), torch.tensor(splits[1:], device=device), torch.tensor(positions[1:], device=device),
                   torch.tensor(node_of, device=device))  # fmt: skip

    def nll(self, generator: torch.nn.Module, codes: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor,
            row_mask: torch.Tensor | None) -> torch.Tensor:  # fmt: skip
        """NLL [N, L+1] of codes [N, L+1, depth] (each row's L + 1 split codes), one trie row each."""
        inputs = torch.cat([torch.full_like(codes[:, 0, :1], BOS), codes[:, self.input_split, self.input_position]], dim=1)
        logits = generator.decode(inputs, memory, src_mask, row_mask, parents=self.parents)  # (N, T, V)
        V = logits.shape[-1]
        log_p = torch.log_softmax(logits.float(), dim=-1).flatten(1)  # (N, T·V)
        picked = log_p.gather(1, self.node_of.flatten() * V + codes.flatten(1))  # (N, (L+1)·depth)
        return -picked.view(codes.shape).sum(dim=2)


class FlexCode(GenerativeRetriever):
    config: FlexCodeConfig

    def build_codes(self, data: PreparedDataset, *, device: str, seed: int) -> None:
        from flexcode_bench.data.embeddings import dataset_text_embeddings
        from flexcode_bench.evaluation.buckets import popularity_buckets
        from flexcode_bench.models.cf_signals import cf_signals
        from flexcode_bench.models.dual_codes import dual_codes
        from flexcode_bench.tokenizers.dual_codebook import (
            DualCodebookConfig,
            split_token_table,
            split_vocabulary,
        )
        from flexcode_bench.tokenizers.router import Router, popularity_rule_splits, router_features

        cfg = self.config
        text = dataset_text_embeddings(data, encoder=cfg.text_encoder, device=device)
        cf_embeddings, uncertainty = cf_signals(data, profile=cfg.cf_profile, epochs=cfg.cf_epochs, device=device, seed=seed)
        dual = dual_codes(
            data.path, text, cf_embeddings,
            DualCodebookConfig(levels=cfg.levels, codebook_size=cfg.codebook_size, epochs=cfg.rqvae_epochs,
                               batch_size=cfg.rqvae_batch_size, align_weight=cfg.align_weight,
                               align_temperature=cfg.align_temperature, seed=seed),
            device=device,
        )  # fmt: skip
        size = min(cfg.codebook_size, data.n_items)
        self.vocabulary = split_vocabulary(cfg.levels, size)
        self._table = split_token_table(dual, self.vocabulary)  # (L+1, n_items, L+1)
        self._table_t = torch.from_numpy(self._table).to(device)
        self._buckets = popularity_buckets(data.train_counts)
        self._features = torch.from_numpy(router_features(data, uncertainty)).to(device)
        # items ordered by training popularity, for the smoothness term
        self._popularity_order = torch.from_numpy(np.argsort(-data.train_counts, kind="stable")).to(device)
        self.router = None
        if cfg.router == "learned":
            torch.manual_seed(seed)
            self.router = Router(self._features.shape[1], cfg.router_hidden, cfg.levels, cfg.router_temperature).to(device)
            self._splits = self.router.hard_splits(self._features).cpu().numpy()
        elif cfg.router == "fixed":
            k = cfg.levels // 2 if cfg.fixed_split is None else cfg.fixed_split
            self._splits = np.full(data.n_items, k, dtype=np.int64)
        else:
            self._splits = popularity_rule_splits(self._buckets.of(np.arange(data.n_items)), cfg.levels)
        self.item_tokens = self._table[self._splits, np.arange(data.n_items)]
        self.diagnostics.update({"codebook_usage": dual.usage, "final_align_loss": dual.final_align_loss,
                                 "router": cfg.router, "code_depth": cfg.levels + 1})  # fmt: skip

    def trainable(self) -> torch.nn.Module:
        if self.router is None:
            return self.generator
        return torch.nn.ModuleDict({"generator": self.generator, "router": self.router})

    def refresh_codes(self) -> None:
        if self.router is not None:
            self._splits = self.router.hard_splits(self._features).cpu().numpy()
            self.item_tokens = self._table[self._splits, np.arange(len(self._splits))]

    def target_loss(self, memory: torch.Tensor, src_mask: torch.Tensor, targets: torch.Tensor,
                    row_mask: torch.Tensor | None) -> torch.Tensor:  # fmt: skip
        if self.router is None:
            return super().target_loss(memory, src_mask, targets, row_mask)
        nll = self.split_nll(memory, src_mask, targets, row_mask)  # (B·g, L+1)
        valid = (targets >= 0).flatten()
        return router_objective(self.router, self._features, targets.flatten()[valid], nll[valid],
                                self._popularity_order, self.config)  # fmt: skip

    @functools.cached_property
    def _split_trie(self) -> SplitTrie:
        # a function of L alone, not a fitted artefact: built on first use, never part of the tokenisation cache
        return SplitTrie.of(self.config.levels, self._table_t.device)

    def split_nll(self, memory: torch.Tensor, src_mask: torch.Tensor, targets: torch.Tensor,
                  row_mask: torch.Tensor | None) -> torch.Tensor:  # fmt: skip
        """NLL of each target's code under each split, [B·g, L+1] (arguments as in ``target_loss``).

        One decoder row per target holds the prefix trie of its L + 1 codes (:class:`SplitTrie`): one
        cross-attention row and (L+1)(L+2)/2 decoder inputs instead of L + 1 rows of L + 1 inputs each.
        In training, splits that share a prefix node also share its dropout mask (it is one computation
        now); each split's loss has the same distribution as in a row of its own.
        """
        # (L+1, B, g, depth) -> (B·g, L+1, depth): every target's code under each of its splits
        codes = self._table_t[:, targets.clamp(min=0)].permute(1, 2, 0, 3).flatten(0, 1)
        return self._split_trie.nll(self.generator, codes, memory, src_mask, row_mask)

    def final_diagnostics(self, data: PreparedDataset) -> dict:
        from flexcode_bench.evaluation.buckets import BUCKETS
        from flexcode_bench.tokenizers.collisions import ItemCodes

        if self.router is not None:
            with torch.no_grad():
                share = self.router.cf_share(self._features).cpu().numpy()
        else:
            share = self._splits / self.config.levels
        buckets = self._buckets.of(np.arange(data.n_items))
        if self.router is not None and len(np.unique(self._splits)) == 1:
            from flexcode_bench.console import warning

            warning(
                f"FlexCode's router gave every item split k = {self._splits[0]} (mean CF share {share.mean():.3f}): "
                "the run is a fixed-split model; raise balance_weight to keep the allocation mixed"
            )
        by_bucket = {b: float(share[buckets == b].mean()) for b in BUCKETS if (buckets == b).any()}
        splits_by_bucket = {
            b: np.bincount(self._splits[buckets == b], minlength=self.config.levels + 1).tolist()
            for b in by_bucket
        }
        from flexcode_bench.models.allocation import allocation_sample

        return {
            "allocation_sample": allocation_sample(data.item_texts, self._splits, share, buckets, data.train_counts, self.config.levels),
            "item_splits": self._splits.tolist(),
            "cf_share_by_bucket": by_bucket,
            "split_counts_by_bucket": splits_by_bucket,
            "collisions": ItemCodes(self.item_tokens, self.vocabulary).collision_stats(),
        }


def router_objective(
    router: Router,
    features: torch.Tensor,
    targets: torch.Tensor,
    split_nll: torch.Tensor,
    popularity_order: torch.Tensor,
    cfg: FlexCodeConfig,
) -> torch.Tensor:
    """The objective of the module docstring, given each target's NLL under every split ``split_nll`` [B, L+1].

    ``popularity_order`` lists all items from most to least popular in training, for the smoothness term.
    """
    expected = (router.split_distribution(features[targets]) * split_nll).sum(dim=1).mean()
    alpha = router.cf_share(features)  # (n_items,)
    balance = (alpha.mean() - cfg.balance_target) ** 2
    ordered = alpha[popularity_order]
    smooth = ((ordered[1:] - ordered[:-1]) ** 2).mean()
    return expected + cfg.balance_weight * balance + cfg.smooth_weight * smooth


SPEC = ModelSpec(FlexCodeConfig, PROFILES, FlexCode, follows_mask_history=True, top_k_option="beam_size")
