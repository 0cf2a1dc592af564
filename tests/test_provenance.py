"""Run manifests: provenance, costs and protocol; the code version a process records."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from flexcode_bench.provenance import SCHEMA_VERSION, code_version, git_info
from tests.support.run_records import PROTOCOL, make_config, make_manifest


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
