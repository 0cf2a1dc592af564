"""Reading runs back: finished and failed runs, listing, schema migrations, broken files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from flexcode_bench.config import stable_hash as config_hash
from flexcode_bench.errors import DataFormatError
from flexcode_bench.provenance import SCHEMA_VERSION, build_manifest
from flexcode_bench.results import (
    MIGRATIONS,
    SchemaVersionError,
    is_finished,
    load_run,
    load_runs,
    run_dir,
    summarise,
    write_failed_run,
)
from tests.support.run_records import make_config, make_manifest, write_finished, write_v0_run

REPO = Path(__file__).resolve().parents[2]


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


def test_importing_results_does_not_import_torch() -> None:
    code = "import flexcode_bench.results, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
