"""Every protocol flag reaches the generative models too: history masking in validation and test, and a
beam that can return K items (a smaller one is refused before training, never raised silently)."""

import numpy as np
import pytest

from flexcode_bench.config import ProtocolConfig, RunConfig
from flexcode_bench.data.prepared import load_prepared
from flexcode_bench.errors import ConfigError
from flexcode_bench.results import load_run
from flexcode_bench.runner import resolved_config, run_one
from tests.support.prepared_on_disk import popular_head_sequences, write_sequences


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("masking")
    write_sequences(root, "skewed", popular_head_sequences(n_users=40, n_items=30, length=8))
    return root


def run(data_dir, tmp_path, model, *, mask_history, **overrides):
    config = RunConfig(dataset="skewed", model=model, profile="smoke", data_dir=data_dir, results_dir=tmp_path,
                       protocol=ProtocolConfig(mask_history=mask_history),
                       model_overrides={"max_epochs": 1, **overrides})  # fmt: skip
    return config, run_one(config)


@pytest.mark.parametrize("model", ["tiger", "flexcode"])
def test_history_masking_reaches_the_generative_model_and_its_lists_hold_no_history_item(data_dir, tmp_path, model):
    config, outcome = run(data_dir, tmp_path, model, mask_history=True)
    assert outcome.status == "finished", outcome.error
    record = load_run(outcome.path)
    assert record.config["model_config"]["mask_history"] is True
    short = record.manifest["diagnostics"]["short_topk_lists"]
    assert set(short) == {"valid", "test"} and all(0 <= n <= 40 for n in short.values())

    _, model_object = resolved_config(config)
    data = load_prepared("skewed", data_dir)
    model_object.fit(data, device="cpu", seed=0)
    for split in ("valid", "test"):
        histories = data.history(split)
        topk = model_object.recommend(np.arange(data.n_users), histories, 20)
        for row, history in zip(topk, histories):
            assert not set(row[row >= 0].tolist()) & set(history.tolist())
            assert len(set(row[row >= 0].tolist())) == (row >= 0).sum()  # still distinct


def test_without_masking_every_list_is_full_length(data_dir, tmp_path):
    _, outcome = run(data_dir, tmp_path, "tiger", mask_history=False)
    assert load_run(outcome.path).manifest["diagnostics"]["short_topk_lists"] == {"valid": 0, "test": 0}


def test_a_beam_smaller_than_the_largest_k_is_refused_before_training(data_dir, tmp_path):
    config = RunConfig(dataset="skewed", model="tiger", profile="smoke", data_dir=data_dir, results_dir=tmp_path,
                       model_overrides={"beam_size": 10})  # fmt: skip
    with pytest.raises(ConfigError, match="beam_size 10 is smaller than the protocol's largest K = 20"):
        resolved_config(config)
