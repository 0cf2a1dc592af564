"""FlexCode's popularity-aware router: per-item features → CF share α_i → a distribution over splits.

Features (all from the training split; standardised to zero mean and unit variance):

- ``log_frequency``: log(1 + number of training interactions).
- ``age``: how early the item entered the data. With timestamps, the rank of its first training
  interaction in global time, scaled to [0, 1] (0 = oldest). Without timestamps (S3-Rec files have
  none) there is no global clock, so it is the mean relative position of the item's training
  occurrences inside their users' sequences (0 = at the start, 1 = at the end). Items with no
  training interaction get 1 (newest).
- ``sparsity``: 1 − (distinct items co-occurring with it in some user's training sequence) / (the
  maximum of that count over items); 1 = no co-occurrence evidence at all.
- ``uncertainty``: entropy of the CF model's next-item distribution given the item alone, divided by
  log(n_items); 1 = the CF model has no idea what follows the item.

The router is a small MLP with two experts (CF, semantic): α_i = softmax(MLP(f_i) / τ)[CF]. The item's
split k_i (CF tokens out of L) follows Binomial(L, α_i), so E[k_i] = α_i·L; training takes the
generator's loss in expectation under that distribution, and inference uses its mode (hard split).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

FEATURES = ("log_frequency", "age", "sparsity", "uncertainty")


def router_features(data, uncertainty: np.ndarray) -> np.ndarray:
    """float32 [n_items, 4] standardised features, computed from ``data``'s training split only."""
    from scipy import sparse

    train = data.interactions[data.interactions["split"] == "train"]
    n = data.n_items
    items = train["item"].to_numpy()
    counts = np.bincount(items, minlength=n)

    if data.manifest.get("has_timestamps") and train["timestamp"].notna().all():
        first = np.full(n, np.inf)
        np.minimum.at(first, items, train["timestamp"].to_numpy())
        seen = np.isfinite(first)
        age = np.ones(n)
        age[seen] = (np.argsort(np.argsort(first[seen], kind="stable"), kind="stable") / max(seen.sum() - 1, 1))
    else:
        lengths = train.groupby("user")["position"].transform("max").to_numpy()
        relative = train["position"].to_numpy() / np.maximum(lengths, 1)
        age = np.ones(n)
        seen = counts > 0
        age[seen] = np.bincount(items, weights=relative, minlength=n)[seen] / counts[seen]

    users = train["user"].to_numpy()
    incidence = sparse.csr_matrix((np.ones(len(items)), (users, items)), shape=(data.n_users, n))
    incidence.data[:] = 1.0  # a repeated item counts once per user
    cooccurrence = (incidence.T @ incidence).tocsr()
    cooccurrence.setdiag(0)
    cooccurrence.eliminate_zeros()
    distinct = np.diff(cooccurrence.indptr)
    sparsity = 1.0 - distinct / max(distinct.max(), 1)

    raw = np.stack([np.log1p(counts), age, sparsity, np.asarray(uncertainty, dtype=np.float64)], axis=1)
    std = raw.std(axis=0)
    return ((raw - raw.mean(axis=0)) / np.where(std > 0, std, 1.0)).astype(np.float32)


class Router(nn.Module):
    """MLP over item features → CF share α and the Binomial(L, α) distribution over splits k = 0..L."""

    def __init__(self, n_features: int, hidden: int, levels: int, temperature: float = 1.0) -> None:
        super().__init__()
        self.levels, self.temperature = levels, temperature
        self.mlp = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, 2))  # experts: CF, semantic
        k = torch.arange(levels + 1, dtype=torch.float32)
        log_binom = torch.tensor([math.lgamma(levels + 1) - math.lgamma(j + 1) - math.lgamma(levels - j + 1) for j in range(levels + 1)])
        self.register_buffer("k", k, persistent=False)
        self.register_buffer("log_binom", log_binom, persistent=False)

    def log_shares(self, features: torch.Tensor) -> torch.Tensor:
        """(log α, log(1 − α)) [n, 2], in float32 even under autocast.

        The router is tiny, and in bf16 a confident router rounds α to exactly 1: log(1 − α) is then -inf
        and the all-CF split's 0 · -inf made FlexCode's loss NaN (amazon-beauty, cpu profile, step ~165).
        log_softmax gives both logs without ever forming 1 − α.
        """
        with torch.autocast(features.device.type, enabled=False):
            return torch.log_softmax(self.mlp(features.float()) / self.temperature, dim=-1)

    def cf_share(self, features: torch.Tensor) -> torch.Tensor:
        """α [n] in (0, 1)."""
        return self.log_shares(features)[:, 0].exp()

    def split_distribution(self, features: torch.Tensor) -> torch.Tensor:
        """P(k) [n, L + 1] = C(L, k) α^k (1 − α)^(L − k)."""
        log_alpha, log_rest = self.log_shares(features).unbind(dim=1)  # 2 x (n,)
        log_p = self.log_binom + self.k * log_alpha[:, None] + (self.levels - self.k) * log_rest[:, None]  # (n, L+1)
        return log_p.exp()

    def hard_splits(self, features: torch.Tensor) -> torch.Tensor:
        """The most likely split per item (inference and history items)."""
        with torch.no_grad():
            return self.split_distribution(features).argmax(dim=1)


def popularity_rule_splits(buckets: np.ndarray, levels: int) -> np.ndarray:
    """The rule router: more CF tokens for more popular items (head L, torso ⌈L/2⌉, tail ⌊L/2⌋, cold 0)."""
    rule = {"head": levels, "torso": math.ceil(levels / 2), "tail": levels // 2, "cold": 0}
    return np.array([rule[b] for b in buckets], dtype=np.int64)
