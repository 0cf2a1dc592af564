import json

import numpy as np
import pandas as pd
import pytest

from flexcode_bench.config import RunConfig
from flexcode_bench.errors import ConfigError
from flexcode_bench.results import load_run
from flexcode_bench.runner import run_one
from tests.support.prepared_on_disk import popular_head_sequences, write_sequences


@pytest.fixture
def dirs(tmp_path):
    data_dir, results_dir = tmp_path / "data", tmp_path / "results"
    write_sequences(data_dir, "tiny", popular_head_sequences())
    return data_dir, results_dir


def _config(dirs, **kwargs) -> RunConfig:
    data_dir, results_dir = dirs
    return RunConfig(dataset="tiny", model="popularity", profile="smoke", data_dir=data_dir, results_dir=results_dir, **kwargs)


def test_a_run_records_every_user_for_valid_and_test_with_metrics_derived_from_ranks(dirs):
    outcome = run_one(_config(dirs))
    assert outcome.status == "finished"
    record = load_run(outcome.path)
    per_user = record.per_user
    assert sorted(per_user["split"].unique()) == ["test", "valid"]
    assert (per_user.groupby("split")["user_id"].nunique() == 60).all()
    hits = per_user["rank"].fillna(10**9) <= 10
    assert np.array_equal(per_user["recall@10"].to_numpy(), hits.to_numpy(dtype=float))
    test = per_user[per_user["split"] == "test"]
    assert record.metrics["test"]["overall"]["ndcg@10"] == pytest.approx(test["ndcg@10"].mean())
    assert record.manifest["protocol"]["tie_policy"] == "pessimistic"
    assert record.manifest["dataset_fingerprint"]


def test_buckets_in_the_records_come_from_training_counts_only(dirs):
    data_dir, _ = dirs
    record = load_run(run_one(_config(dirs)).path)
    items = pd.read_parquet(data_dir / "tiny" / "items.parquet")
    cold = set(items.loc[items["train_count"] == 0, "item"])
    test = record.per_user[record.per_user["split"] == "test"]
    assert set(test.loc[test["target_item"].isin(cold), "bucket"]) <= {"cold"}
    assert set(test.loc[~test["target_item"].isin(cold), "bucket"]) <= {"head", "torso", "tail"}


def test_a_finished_identical_run_is_skipped_and_a_changed_one_is_not(dirs):
    first = run_one(_config(dirs))
    assert run_one(_config(dirs)).status == "skipped"
    masked = run_one(_config(dirs, protocol={"mask_history": True}))
    assert masked.status == "finished" and masked.config_hash != first.config_hash


def test_a_run_on_an_unprepared_dataset_is_recorded_as_failed_with_its_error(dirs):
    data_dir, results_dir = dirs
    config = RunConfig(dataset="absent", model="popularity", profile="smoke", data_dir=data_dir, results_dir=results_dir)
    outcome = run_one(config)
    assert outcome.status == "failed"
    manifest = json.loads((outcome.path / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "not prepared" in manifest["error"]
    assert not (outcome.path / "per_user.parquet").exists()


def test_an_unknown_model_option_is_a_config_error_naming_it(dirs):
    with pytest.raises(ConfigError, match="unknown option 'hidden'"):
        run_one(_config(dirs, model_overrides={"hidden": 3}))
