import numpy as np
import pandas as pd
import torch

from flexcode_bench.tokenizers.router import FEATURES, Router, popularity_rule_splits, router_features
from tests.support.synthetic import dataset_from_sequences


def test_the_split_distribution_is_binomial_in_the_cf_share():
    router = Router(n_features=4, hidden=8, levels=3)
    features = torch.randn(20, 4)
    p = router.split_distribution(features)
    alpha = router.cf_share(features)
    assert torch.allclose(p.sum(dim=1), torch.ones(20), atol=1e-5)
    assert torch.allclose((p * torch.arange(4)).sum(dim=1), 3 * alpha, atol=1e-4)  # E[k] = α·L


def test_a_confident_router_stays_finite_and_float32_under_bf16_autocast():
    """In bf16, α rounds to exactly 1 for a sure router; log(1 - α) = -inf then made the loss NaN."""
    router = Router(n_features=4, hidden=8, levels=3)
    with torch.no_grad():
        router.mlp[2].bias.copy_(torch.tensor([12.0, -12.0]))  # α ≈ 1 - 6e-11
    features = torch.randn(5, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        p = router.split_distribution(features)
    assert p.dtype == torch.float32 and torch.isfinite(p).all()
    assert torch.allclose(p, router.split_distribution(features))
    assert torch.allclose(p[:, 3], torch.ones(5))  # all-CF split


def test_router_features_use_training_interactions_only():
    sequences = [[0, 1, 2, 3, 4], [1, 2, 3, 0, 4], [2, 3, 1, 0, 4]]
    data = dataset_from_sequences(sequences, n_items=6)
    canary = data.interactions.copy()
    # put a never-trained item (5) into every validation and test slot: features must not move
    canary.loc[canary["split"] != "train", "item"] = 5
    changed = dataset_from_sequences(sequences, n_items=6)
    object.__setattr__(changed, "interactions", canary)
    uncertainty = np.linspace(0, 1, 6)
    assert np.array_equal(router_features(data, uncertainty), router_features(changed, uncertainty))
    assert router_features(data, uncertainty).shape == (6, len(FEATURES))


def test_the_popularity_rule_gives_more_cf_tokens_to_more_popular_items():
    splits = popularity_rule_splits(np.array(["head", "torso", "tail", "cold"]), levels=3)
    assert splits.tolist() == [3, 2, 1, 0]


def test_frequency_feature_ranks_items_by_training_count():
    data = dataset_from_sequences([[0, 0, 0, 1, 2], [0, 1, 1, 2, 2]], n_items=3)
    features = router_features(data, np.zeros(3))
    counts = data.train_counts
    assert list(np.argsort(features[:, 0])) == list(np.argsort(counts, kind="stable"))
    assert isinstance(data.interactions, pd.DataFrame)
