import pytest
from pydantic import ValidationError

from flexcode_bench.config import PrepareConfig, stable_hash
from flexcode_bench.errors import ConfigError


def test_the_hash_ignores_key_order_and_the_hash_field_itself():
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1, "config_hash": "x"})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})


def test_a_mistyped_config_key_is_an_error_not_a_silent_default():
    with pytest.raises(ValidationError, match="kcore"):
        PrepareConfig(dataset="ml-100k", kcore=3)


def test_data_dir_defaults_to_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("FLEXBENCH_DATA", str(tmp_path))
    assert PrepareConfig(dataset="ml-100k").data_dir == tmp_path


def test_flexcode_overrides_reach_every_ablation_variant_under_its_own_entry():
    from flexcode_bench.config import GridConfig

    grid = GridConfig(model_overrides={"flexcode": {"max_epochs": 4, "lr": 0.1}, "flexcode-no-align": {"lr": 0.2}})
    assert grid.overrides_for("flexcode-no-moe") == {"max_epochs": 4, "lr": 0.1}
    assert grid.overrides_for("flexcode-no-align") == {"max_epochs": 4, "lr": 0.2}
    assert grid.overrides_for("tiger") == {}


def test_config_is_a_leaf_that_imports_no_other_flexbench_module_but_errors():
    import subprocess
    import sys

    code = ("import sys, flexcode_bench.config; "
            "print(sorted(m for m in sys.modules if m.startswith('flexcode_bench.')))")  # fmt: skip
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['flexcode_bench.config', 'flexcode_bench.errors']"


def test_the_split_bucket_and_k_names_each_have_one_home():
    from flexcode_bench import results
    from flexcode_bench.results import records
    from flexcode_bench.config import KS, ProtocolConfig
    from flexcode_bench.data.prepared import EVAL_SPLITS, SPLITS
    from flexcode_bench.evaluation import metrics
    from flexcode_bench.evaluation.buckets import BUCKETS
    from flexcode_bench.reporting import report

    assert EVAL_SPLITS == SPLITS[1:] and results.SPLITS is EVAL_SPLITS and set(report.SPLITS) == set(EVAL_SPLITS)
    assert records.BUCKETS is BUCKETS and report.BUCKET_ORDER is BUCKETS
    assert metrics.KS is KS and ProtocolConfig().ks == KS


def test_stable_hash_is_order_independent_and_ignores_its_own_key() -> None:
    config = {"a": 1, "b": {"x": [1, 2], "y": 0.1}}
    reordered = {"b": {"y": 0.1, "x": [1, 2]}, "a": 1}

    digest = stable_hash(config)

    assert len(digest) == 16 and all(c in "0123456789abcdef" for c in digest)
    assert stable_hash(reordered) == digest
    assert stable_hash({**config, "config_hash": "stale"}) == digest
    assert stable_hash({**config, "a": 2}) != digest
    assert stable_hash({"a": 1, "b": {"x": (1, 2), "y": 0.1}}) == digest  # as it reads back from YAML


def test_given_unhashable_config_then_stable_hash_says_why() -> None:
    with pytest.raises(ConfigError, match="JSON"):
        stable_hash({"path": object()})
