"""The Ray executor on a real local Ray cluster (2 worker CPUs) that this module starts and stops.

Runs go through the real CLI in subprocesses, against the local executor on one thread.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from flexcode_bench.extras import MissingExtraError, require_ray
from tests.support.cli_process import ENTRY_POINT  # Ctrl-C works even when the suite runs as a background job
from tests.support.prepared_on_disk import popular_head_sequences, write_sequences

try:
    require_ray("the Ray executor tests")
except MissingExtraError as exc:
    pytest.skip(f"{exc.message} ({exc.hint}; .ci/run's core venv has it)", allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]
# Token auth off: a loopback test cluster, started and stopped by this module.
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0",
       "RAY_AUTH_MODE": "disabled"}  # fmt: skip
# A small grid of fast runs (smoke profile, seconds each): a scoring model, a generative one, two seeds.
GRID = ["-m", "popularity", "-m", "sasrec", "-m", "tiger", "--seeds", "2", "--profile", "smoke", "--device", "cpu"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """The address of a local Ray head with 2 CPUs (so 2 worker processes run tasks at once) on loopback."""
    address = f"127.0.0.1:{free_port()}"
    command = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--node-ip-address=127.0.0.1",
               f"--port={address.split(':')[1]}", "--num-cpus=2", "--include-dashboard=false", "--block"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV, cwd=REPO)
    started = time.monotonic()
    for line in process.stdout:  # `--block` prints this once every Ray process is up
        if "block forever" in line:
            break
        assert time.monotonic() - started < 120, "the Ray head did not start in 2 minutes"
    else:
        pytest.fail(f"ray start exited with {process.wait()}")
    yield address
    process.terminate()  # `ray start --block` stops the processes it started on SIGTERM
    process.wait(timeout=60)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ray-data")
    write_sequences(folder, "tiny", popular_head_sequences())
    return folder


def flexbench(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", ENTRY_POINT, *args], capture_output=True, text=True,
                          env=ENV, cwd=REPO, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


def run_folders(results: Path) -> list[Path]:
    """``tiny/<model>/seed-<n>`` folders, not the ``.lock`` files and ``.partial/`` folders beside them."""
    return sorted(p for p in results.glob("tiny/*/seed-*") if p.is_dir() and re.fullmatch(r"seed-\d+", p.name))


def run_grid(data_dir: Path, results: Path, *executor: str) -> list[dict]:
    args = ["run", "-d", "tiny", "--data-dir", str(data_dir), "--results-dir", str(results), *GRID, "--json", *executor]
    return json.loads(flexbench(*args).stdout)


@pytest.fixture(scope="module")
def ray_and_local(cluster, data_dir, tmp_path_factory):
    ray_results, local_results = tmp_path_factory.mktemp("ray-results"), tmp_path_factory.mktemp("local-results")
    ray_outcomes = run_grid(data_dir, ray_results, "--executor", "ray", "--address", cluster)
    run_grid(data_dir, local_results)  # OMP_NUM_THREADS=1: the local executor on one thread
    return ray_results, local_results, ray_outcomes


def test_a_grid_sent_to_a_ray_cluster_finishes_every_run(ray_and_local):
    _, _, outcomes = ray_and_local
    assert [(o["model"], o["seed"], o["status"]) for o in outcomes] == [
        (m, s, "finished") for m in ("popularity", "sasrec", "tiger") for s in (0, 1)
    ]


def test_ray_runs_give_per_user_results_and_metrics_identical_to_the_local_executor_on_one_thread(ray_and_local):
    ray_results, local_results, _ = ray_and_local
    runs = [p.relative_to(local_results) for p in run_folders(local_results)]
    assert len(runs) == 6 and [p.relative_to(ray_results) for p in run_folders(ray_results)] == runs
    for run in runs:
        pd.testing.assert_frame_equal(pd.read_parquet(ray_results / run / "per_user.parquet"),
                                      pd.read_parquet(local_results / run / "per_user.parquet"))  # fmt: skip
        assert (ray_results / run / "metrics.json").read_text() == (local_results / run / "metrics.json").read_text()
    report = [flexbench("report", "--results-dir", str(r), "--format", "csv").stdout for r in (ray_results, local_results)]
    assert report[0] == report[1] and "sasrec" in report[0]


def test_each_ray_run_records_the_host_and_cpu_it_ran_on(ray_and_local):
    ray_results, _, _ = ray_and_local
    for run in run_folders(ray_results):
        recorded = json.loads((run / "manifest.json").read_text())
        host = recorded["host"]
        assert host["hostname"] and host["cpu_count"] >= 1 and host["machine"] and host["torch_threads"] >= 1


def test_a_resubmitted_grid_skips_every_finished_run_and_rewrites_none(cluster, data_dir, ray_and_local):
    ray_results, _, _ = ray_and_local
    before = {p: p.stat().st_mtime_ns for run in run_folders(ray_results) for p in run.iterdir()}
    outcomes = run_grid(data_dir, ray_results, "--executor", "ray", "--address", cluster)
    assert {o["status"] for o in outcomes} == {"skipped"} and len(outcomes) == 6
    assert {p: p.stat().st_mtime_ns for run in run_folders(ray_results) for p in run.iterdir()} == before


def test_ctrl_c_cancels_the_remaining_tasks_and_leaves_no_half_written_run(cluster, data_dir, tmp_path):
    results = tmp_path / "results"
    slow = tmp_path / "slow.yaml"  # SASRec runs of several seconds each, so some are still running at Ctrl-C
    slow.write_text("model_overrides:\n  sasrec: {max_epochs: 200, patience: 200}\n")
    grid = ["run", "-d", "tiny", "--data-dir", str(data_dir), "--results-dir", str(results), "-m", "sasrec",
            "--seeds", "4", "--profile", "smoke", "--device", "cpu", "--config", str(slow),
            "--executor", "ray", "--address", cluster]  # fmt: skip
    driver = subprocess.Popen([sys.executable, "-c", ENTRY_POINT, *grid],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=REPO)  # fmt: skip
    runs = results / "tiny" / "sasrec"
    deadline = time.monotonic() + 300
    while not run_folders(results) and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    driver.send_signal(signal.SIGINT)  # Ctrl-C once the first run has landed
    _, stderr = driver.communicate(timeout=120)

    assert driver.returncode != 0 and "cancelled" in stderr, stderr
    landed = [p.name for p in run_folders(results)]
    assert 1 <= len(landed) < 4
    time.sleep(5)  # a task that was not cancelled would still land its run now
    assert [p.name for p in run_folders(results)] == landed
    for run in landed:  # every run folder is complete and finished
        assert json.loads((runs / run / "manifest.json").read_text())["status"] == "finished"
        assert (runs / run / "per_user.parquet").is_file()

    planned = json.loads(flexbench(*grid, "--dry-run", "--json").stdout)  # a rerun redoes only the rest
    assert sorted(f"seed-{p['seed']}" for p in planned if p["action"] == "skip") == landed


def test_relative_data_and_results_folders_mean_the_drivers_folders_not_the_workers(cluster, data_dir, tmp_path):
    (tmp_path / "data").symlink_to(data_dir)  # the Ray head (and so its workers) run in the repository root
    args = ["run", "-d", "tiny", "--data-dir", "data", "--results-dir", "results", "-m", "popularity", "--profile",
            "smoke", "--executor", "ray", "--address", cluster, "--json"]  # fmt: skip
    done = subprocess.run([sys.executable, "-c", ENTRY_POINT, *args],
                          capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "results" / "tiny" / "popularity" / "seed-0" / "manifest.json").is_file()
    assert not (REPO / "results" / "tiny").exists()
