"""Writing a run: validated first, replaced atomically as a whole."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from flexcode_bench.config import stable_hash as config_hash
from flexcode_bench.errors import ConfigError, DataFormatError
from flexcode_bench.results import is_finished, load_run, load_runs, run_dir, summarise, write_run
from flexcode_bench.results import write as results_write
from tests.support.run_records import PROTOCOL, leftovers, make_config, make_manifest, make_per_user, write_finished


def test_given_written_run_when_loaded_then_everything_round_trips(tmp_path: Path) -> None:
    path = write_finished(tmp_path)

    assert sorted(p.name for p in path.iterdir()) == [
        "config.yaml", "manifest.json", "metrics.json", "per_user.parquet"
    ]
    record = load_run(path)
    pd.testing.assert_frame_equal(record.per_user, make_per_user())
    assert record.metrics == summarise(make_per_user())
    assert (record.dataset, record.model, record.seed, record.status) == ("toy", "sasrec", 0, "finished")
    assert record.config == {**make_config(), "config_hash": config_hash(make_config())}
    assert record.config_hash == config_hash(record.config) == config_hash(make_config())
    assert record.protocol == PROTOCOL
    assert record.manifest["diagnostics"] == {"invalid_id_rate": 0.0}


def test_config_yaml_keeps_the_given_key_order(tmp_path: Path) -> None:
    path = write_finished(tmp_path)
    keys = list(yaml.safe_load((path / "config.yaml").read_text()))
    assert keys == ["dataset", "model", "seed", "profile", "config_hash"]


@pytest.mark.parametrize(
    "breakage",
    [
        lambda f: f.drop(columns="bucket"),
        lambda f: f.drop(columns=["recall@5", "mrr@5"]),
        lambda f: f.assign(split=["train"] * len(f)),
        lambda f: f.assign(bucket=["warm"] * len(f)),
        lambda f: f.assign(rank=pd.array([0] * len(f), dtype="Int64")),
        lambda f: f.assign(rank=[1.5] * len(f)),
        lambda f: f.assign(user_id=[0] * len(f)),
        lambda f: f.assign(user_id=f["user_id"].astype("float64")),
        lambda f: f.assign(**{"recall@5": np.nan}),
        lambda f: f.assign(notes="x"),
        lambda f: f.iloc[:0],
    ],
    ids=["no-bucket", "no-metric", "bad-split", "bad-bucket", "rank-0", "fractional-rank", "duplicate-user",
         "float-user", "nan-metric", "stray-column", "empty"],
)
def test_given_invalid_per_user_then_write_run_refuses_and_writes_nothing(tmp_path: Path, breakage) -> None:
    config = make_config()
    path = run_dir(tmp_path, "toy", "sasrec", 0)

    with pytest.raises(DataFormatError):
        write_run(path, per_user=breakage(make_per_user()), config=config, manifest=make_manifest(config))

    assert not path.exists()
    assert leftovers(path.parent) == []


def test_given_manifest_of_another_config_then_write_run_refuses(tmp_path: Path) -> None:
    manifest = make_manifest(make_config(seed=1))
    with pytest.raises(ConfigError, match="config_hash"):
        write_run(tmp_path / "run", per_user=make_per_user(), config=make_config(), manifest=manifest)


def _fail_after_first_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """per_user.parquet is written first, then metrics.json through _write_json: make that fail."""

    def boom(data: object, file: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(results_write, "_write_json", boom)


def test_given_writer_failing_midway_then_no_run_folder_and_no_staging_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_after_first_file(monkeypatch)
    path = run_dir(tmp_path, "toy", "sasrec", 0)

    with pytest.raises(OSError, match="disk full"):
        write_finished(tmp_path)

    assert not path.exists()
    assert leftovers(path.parent) == []
    assert load_runs(tmp_path) == []


def test_given_finished_run_when_rewrite_fails_midway_then_old_run_is_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_finished(tmp_path)
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    _fail_after_first_file(monkeypatch)

    with pytest.raises(OSError):
        write_finished(tmp_path, profile="quick")

    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert leftovers(path.parent) == []
    assert is_finished(path, config_hash(make_config()))


def test_given_finished_run_when_rewritten_then_whole_folder_is_replaced(tmp_path: Path) -> None:
    path = write_finished(tmp_path)
    (path / "stray.txt").write_text("from the old run")

    write_finished(tmp_path, profile="quick")

    assert not (path / "stray.txt").exists()
    assert load_run(path).config["profile"] == "quick"
    assert leftovers(path.parent) == []
