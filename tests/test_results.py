"""Run records on disk (DESIGN.md §6): the contract that `run` writes and `report` reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from flexcode_bench import results
from flexcode_bench.errors import ConfigError, DataFormatError
from flexcode_bench.provenance import code_version, git_info
from flexcode_bench.results import (
    MIGRATIONS,
    SCHEMA_VERSION,
    SchemaVersionError,
    build_manifest,
    config_hash,
    is_finished,
    load_run,
    load_runs,
    run_dir,
    summarise,
    write_failed_run,
    write_run,
)

REPO = Path(__file__).resolve().parents[1]
PROTOCOL = {
    "split": "leave-one-out, stable sort on timestamp",
    "history_masking": False,
    "ties": "pessimistic",
    "ks": [5, 10],
    "buckets": {"scheme": "item-share", "head": 0.2, "torso": 0.3},
}


def make_per_user() -> pd.DataFrame:
    """Six users, each with a valid and a test target; user 5's test target was never ranked."""
    return pd.DataFrame(
        {
            "split": ["valid"] * 6 + ["test"] * 6,
            "user_id": np.array([0, 1, 2, 3, 4, 5] * 2, dtype="int64"),
            "target_item": np.array([10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25], dtype="int64"),
            "rank": pd.array([1, 2, 7, None, 3, 1, 1, 6, None, 2, 4, None], dtype="Int64"),
            "bucket": ["head", "head", "torso", "tail", "cold", "tail"] * 2,
            "recall@5": [1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0],
            "mrr@5": [1.0, 0.5, 0.0, 0.0, 1 / 3, 1.0, 1.0, 0.0, 0.0, 0.5, 0.25, 0.0],
        }
    )


def make_config(**overrides: object) -> dict:
    return {"dataset": "toy", "model": {"name": "sasrec", "hidden": 64}, "seed": 0, "profile": "smoke", **overrides}


def make_manifest(
    config: dict, *, status: str = "finished", dataset: str = "toy", model: str = "sasrec", seed: int = 0
) -> dict:
    return build_manifest(
        dataset=dataset,
        dataset_fingerprint="f" * 16,
        model=model,
        seed=seed,
        device="cpu",
        config_hash=config_hash(config),
        protocol=PROTOCOL,
        timings={"fit": 1.5, "evaluate": 0.25},
        status=status,
        error="RuntimeError: boom\n\nTraceback ..." if status == "failed" else None,
        diagnostics={"invalid_id_rate": np.float64(0.0)},
        started_at=results.utc_now(),
    )


def write_finished(
    results_dir: Path, *, dataset: str = "toy", model: str = "sasrec", seed: int = 0, **config_overrides: object
) -> Path:
    config = make_config(**config_overrides)
    path = run_dir(results_dir, dataset, model, seed)
    manifest = make_manifest(config, dataset=dataset, model=model, seed=seed)
    write_run(path, per_user=make_per_user(), config=config, manifest=manifest)
    return path


def leftovers(folder: Path) -> list[str]:
    """Staging (.tmp-*) and backup (.old-*) folders that atomic_directory left in ``folder``."""
    if not folder.exists():
        return []
    return sorted(child.name for child in folder.iterdir() if child.name.startswith((".tmp-", ".old-")))


# ---- layout and round trip ---------------------------------------------------------------------


def test_run_dir_is_dataset_model_seed(tmp_path: Path) -> None:
    assert run_dir(tmp_path, "ml-100k", "flexcode+no-moe", 3) == tmp_path / "ml-100k" / "flexcode+no-moe" / "seed-3"


@pytest.mark.parametrize("dataset,model,seed", [("a/b", "m", 0), (".hidden", "m", 0), ("d", "", 0), ("d", "m", -1)])
def test_given_unusable_names_then_run_dir_refuses(tmp_path: Path, dataset: str, model: str, seed: int) -> None:
    with pytest.raises(ConfigError):
        run_dir(tmp_path, dataset, model, seed)


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


def test_metrics_json_means_equal_per_user_means_per_split_and_bucket(tmp_path: Path) -> None:
    path = write_finished(tmp_path)
    metrics = json.loads((path / "metrics.json").read_text())
    frame = make_per_user()

    assert metrics["schema_version"] == SCHEMA_VERSION
    for split in ("valid", "test"):
        rows = frame[frame["split"] == split]
        assert metrics[split]["n_users"] == 6
        expected = {"recall@5": rows["recall@5"].mean(), "mrr@5": rows["mrr@5"].mean()}
        assert metrics[split]["overall"] == pytest.approx(expected)
        assert list(metrics[split]["by_bucket"]) == ["head", "torso", "tail", "cold"]
        for bucket, summary in metrics[split]["by_bucket"].items():
            in_bucket = rows[rows["bucket"] == bucket]
            assert summary["n_users"] == len(in_bucket)
            assert summary["recall@5"] == pytest.approx(in_bucket["recall@5"].mean())
            assert summary["mrr@5"] == pytest.approx(in_bucket["mrr@5"].mean())


def test_summarise_keeps_valid_and_test_apart() -> None:
    frame = make_per_user()
    frame.loc[frame["split"] == "valid", "recall@5"] = 1.0
    frame.loc[frame["split"] == "test", "recall@5"] = 0.0

    summary = summarise(frame)

    assert summary["valid"]["overall"]["recall@5"] == 1.0
    assert summary["test"]["overall"]["recall@5"] == 0.0


def test_given_only_test_rows_then_valid_summary_is_empty_not_nan() -> None:
    frame = make_per_user()
    summary = summarise(frame[frame["split"] == "test"])
    assert summary["valid"] == {"n_users": 0, "overall": {}, "by_bucket": {}}


def test_given_float_ranks_with_nan_then_they_become_nullable_ints() -> None:
    frame = make_per_user()
    frame["rank"] = frame["rank"].astype("float64")
    assert results._normalise_per_user(frame, "per_user")["rank"].equals(make_per_user()["rank"])


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


# ---- atomicity ---------------------------------------------------------------------------------


def _fail_after_first_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """per_user.parquet is written first, then metrics.json through _write_json: make that fail."""

    def boom(data: object, file: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(results, "_write_json", boom)


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


# ---- finished, failed, listing -----------------------------------------------------------------


def test_is_finished_only_for_a_finished_run_with_the_same_config_hash(tmp_path: Path) -> None:
    path = write_finished(tmp_path)

    assert is_finished(path, config_hash(make_config()))
    assert not is_finished(path, config_hash(make_config(profile="quick")))
    assert not is_finished(tmp_path / "nowhere", config_hash(make_config()))


def test_given_failed_run_then_it_is_listed_only_on_request_and_never_finished(tmp_path: Path) -> None:
    write_finished(tmp_path, seed=0)
    config = make_config()
    failed = run_dir(tmp_path, "toy", "sasrec", 1)
    write_failed_run(failed, config=config, manifest=make_manifest(config, status="failed", seed=1))

    assert sorted(p.name for p in failed.iterdir()) == ["config.yaml", "manifest.json"]
    assert not is_finished(failed, config_hash(config))
    assert [r.seed for r in load_runs(tmp_path)] == [0]
    listed = load_runs(tmp_path, include_failed=True)
    assert [(r.seed, r.status) for r in listed] == [(0, "finished"), (1, "failed")]
    assert listed[1].manifest["error"].startswith("RuntimeError: boom")
    assert listed[1].metrics == {}
    with pytest.raises(DataFormatError, match="no per-user records"):
        listed[1].per_user


def test_given_failed_run_when_redone_then_it_is_finished(tmp_path: Path) -> None:
    config = make_config()
    path = run_dir(tmp_path, "toy", "sasrec", 0)
    write_failed_run(path, config=config, manifest=make_manifest(config, status="failed"))

    write_finished(tmp_path)

    assert is_finished(path, config_hash(config))


def test_failed_manifest_must_carry_its_error() -> None:
    with pytest.raises(ValueError, match="error"):
        build_manifest(dataset="toy", dataset_fingerprint="f", model="m", seed=0, device="cpu", config_hash="h",
                       protocol={}, timings={}, status="failed")


def test_load_runs_sorts_filters_and_ignores_staging_folders(tmp_path: Path) -> None:
    grid = [("ml-1m", "tiger", 10), ("ml-1m", "tiger", 2), ("beauty", "sasrec", 0), ("ml-1m", "flexcode", 1)]
    for dataset, model, seed in grid:
        write_finished(tmp_path, dataset=dataset, model=model, seed=seed)
    # What an interrupted atomic_directory can leave: a staging folder and a backup of the old run.
    (tmp_path / "ml-1m" / "tiger" / ".tmp-seed-3.abcd").mkdir()
    (tmp_path / "ml-1m" / "tiger" / ".tmp-seed-3.abcd" / "per_user.parquet").write_bytes(b"half")
    (tmp_path / "ml-1m" / "tiger" / ".old-seed-2.1234").mkdir()
    (tmp_path / ".tmp-ml-1m.xyz").mkdir()
    (tmp_path / "README.md").write_text("results live here")

    runs = load_runs(tmp_path)

    assert [(r.dataset, r.model, r.seed) for r in runs] == [
        ("beauty", "sasrec", 0), ("ml-1m", "flexcode", 1), ("ml-1m", "tiger", 2), ("ml-1m", "tiger", 10)
    ]
    assert [r.seed for r in load_runs(tmp_path, dataset="ml-1m", model="tiger")] == [2, 10]
    assert load_runs(tmp_path / "absent") == []


# ---- schema versions and broken files ----------------------------------------------------------


def write_v0_run(path: Path) -> pd.DataFrame:
    """A run as v0 wrote it: test rows only, no split column, flat metrics, no schema_version."""
    frame = make_per_user()
    v0 = frame[frame["split"] == "test"].drop(columns="split").reset_index(drop=True)
    path.mkdir(parents=True)
    v0.to_parquet(path / "per_user.parquet", index=False)
    flat = summarise(frame)["test"]
    (path / "metrics.json").write_text(json.dumps({"overall": flat["overall"], "by_bucket": flat["by_bucket"]}))
    config = make_config()
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    manifest = {k: v for k, v in make_manifest(config).items() if k != "schema_version"}
    (path / "manifest.json").write_text(json.dumps(manifest, default=float))
    return v0


def test_given_v0_run_then_it_is_migrated_to_the_current_schema(tmp_path: Path) -> None:
    assert 0 in MIGRATIONS
    v0 = write_v0_run(tmp_path / "toy" / "sasrec" / "seed-0")

    record = load_run(tmp_path / "toy" / "sasrec" / "seed-0")

    assert record.manifest["schema_version"] == SCHEMA_VERSION
    assert list(record.per_user.columns[:5]) == ["split", "user_id", "target_item", "rank", "bucket"]
    assert set(record.per_user["split"]) == {"test"}
    pd.testing.assert_frame_equal(record.per_user.drop(columns="split"), v0)
    assert record.metrics == summarise(record.per_user)
    assert record.metrics["valid"]["n_users"] == 0


def test_given_newer_schema_version_then_loading_says_so(tmp_path: Path) -> None:
    path = write_finished(tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, "schema_version": SCHEMA_VERSION + 1}))

    with pytest.raises(SchemaVersionError, match=f"schema version {SCHEMA_VERSION + 1}") as caught:
        load_run(path)
    assert "manifest.json" in str(caught.value)
    assert "upgrade flexbench" in str(caught.value)


@pytest.mark.parametrize("name", ["manifest.json", "metrics.json", "config.yaml", "per_user.parquet"])
def test_given_missing_file_then_the_error_names_it(tmp_path: Path, name: str) -> None:
    path = write_finished(tmp_path)
    (path / name).unlink()

    with pytest.raises(DataFormatError, match=name):
        load_runs(tmp_path)


@pytest.mark.parametrize("name", ["manifest.json", "metrics.json", "config.yaml", "per_user.parquet"])
def test_given_corrupt_file_then_the_error_names_it(tmp_path: Path, name: str) -> None:
    path = write_finished(tmp_path)
    (path / name).write_text("{not: [valid")

    with pytest.raises(DataFormatError, match=name):
        load_run(path).per_user  # per_user.parquet is read lazily
    if name == "manifest.json":
        assert not is_finished(path, config_hash(make_config()))  # the runner redoes it


# ---- manifest and hashes -----------------------------------------------------------------------


def test_manifest_records_provenance_costs_and_protocol() -> None:
    manifest = make_manifest(make_config())

    assert manifest["schema_version"] == SCHEMA_VERSION
    assert set(manifest["git"]) == {"sha", "dirty"}
    assert manifest["git"]["sha"] is None or len(manifest["git"]["sha"]) == 40
    assert manifest["git"]["dirty"] in (None, True, False)
    assert manifest["peak_memory_mib"] > 0
    assert {"python", "numpy", "pandas", "pyarrow"} <= set(manifest["libraries"])
    assert manifest["libraries"]["numpy"] == np.__version__
    assert manifest["command"] == sys.argv
    assert manifest["protocol"] == PROTOCOL
    assert manifest["timings"] == {"fit": 1.5, "evaluate": 0.25}
    assert (manifest["dataset"], manifest["dataset_fingerprint"], manifest["seed"]) == ("toy", "f" * 16, 0)
    assert manifest["started_at"] <= manifest["finished_at"]
    assert manifest["host"]["hostname"]
    assert manifest["status"] == "finished" and manifest["error"] is None


def test_a_commit_made_while_the_process_runs_does_not_change_its_recorded_code_version(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "model.py").write_text("LAYERS = 2\n")
    git("add", "model.py")
    git("commit", "-qm", "first")
    at_start = code_version(tmp_path)
    (tmp_path / "model.py").write_text("LAYERS = 4\n")
    git("commit", "-qam", "second")

    assert code_version(tmp_path) == at_start
    assert git_info(tmp_path)["sha"] != at_start["sha"] and len(at_start["sha"]) == 40
    assert make_manifest(make_config())["git"] == code_version()


def test_git_info_is_null_outside_a_checkout(tmp_path: Path) -> None:
    assert git_info(tmp_path) == {"sha": None, "dirty": None}


def test_importing_results_does_not_import_torch() -> None:
    code = "import flexcode_bench.results, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_config_hash_is_order_independent_and_ignores_its_own_key() -> None:
    config = {"a": 1, "b": {"x": [1, 2], "y": 0.1}}
    reordered = {"b": {"y": 0.1, "x": [1, 2]}, "a": 1}

    digest = config_hash(config)

    assert len(digest) == 16 and all(c in "0123456789abcdef" for c in digest)
    assert config_hash(reordered) == digest
    assert config_hash({**config, "config_hash": "stale"}) == digest
    assert config_hash({**config, "a": 2}) != digest
    assert config_hash({"a": 1, "b": {"x": (1, 2), "y": 0.1}}) == digest  # as it reads back from YAML


def test_config_hash_agrees_with_the_runners_stable_hash() -> None:
    # The runner stamps resolved configs with config.stable_hash; write_run checks that stamp with config_hash.
    from flexcode_bench.config import stable_hash

    config = {"dataset": "beauty", "note": "café ✓", "model": {"lr": 1e-3, "layers": [2, 2]}, "mask": None}
    assert config_hash(config) == stable_hash(config)


def test_given_unhashable_config_then_config_hash_says_why() -> None:
    with pytest.raises(ConfigError, match="JSON"):
        config_hash({"path": object()})
