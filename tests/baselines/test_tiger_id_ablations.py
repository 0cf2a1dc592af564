"""TIGER's ID ablations (its Table 4) are models of their own: same generator, backbone and recipe, other item IDs."""

import numpy as np
import pytest

from flexcode_bench.data.prepared import load_prepared
from flexcode_bench.errors import ConfigError
from flexcode_bench.models import model_factory
from tests.support.prepared_on_disk import popular_head_sequences, write_sequences


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ids")
    write_sequences(root, "skewed", popular_head_sequences(n_users=30, n_items=25, length=6))
    return load_prepared("skewed", root)


def codes_of(name: str, data, **overrides) -> np.ndarray:
    model = model_factory(name)("smoke", {"codebook_size": 4, "rqvae_epochs": 2, **overrides})
    model.build_codes(data, device="cpu", seed=0)
    return model.item_tokens


def test_atomic_ids_give_every_item_one_token_of_its_own(data):
    tokens = codes_of("tiger-atomic", data)
    assert tokens.shape == (data.n_items, 1)
    assert len(np.unique(tokens)) == data.n_items


def test_random_ids_have_the_semantic_ids_shape_and_stay_unique(data):
    semantic, random = codes_of("tiger", data), codes_of("tiger-random", data)
    assert random.shape == semantic.shape
    assert len({tuple(row) for row in random.tolist()}) == data.n_items  # the collision token separates repeats
    assert not np.array_equal(random, semantic)


def test_an_id_ablation_refuses_an_override_that_contradicts_it():
    with pytest.raises(ConfigError, match="tiger-atomic fixes item_ids"):
        model_factory("tiger-atomic")("smoke", {"item_ids": "semantic"})
    assert model_factory("tiger-random")("smoke", {}).config.item_ids == "random"
