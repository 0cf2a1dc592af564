"""Several `flexbench run` workers on one results folder: each run trained once, locks released, dead workers' runs taken over."""

import json
import os
import socket
import time

from typer.testing import CliRunner

from flexcode_bench.cli import app
from flexcode_bench.config import RunConfig
from flexcode_bench.locks import FileLock
from flexcode_bench.runner import run_one
from tests.support import cli_process
from tests.support.prepared_on_disk import popular_head_sequences, write_sequences
from tests.test_locks import _dead_pid, write_foreign_lock

SEEDS = 6


def test_two_workers_on_one_grid_train_every_run_exactly_once_and_release_every_lock(tmp_path):
    write_sequences(tmp_path / "data", "tiny", popular_head_sequences())
    grid = ["run", "-d", "tiny", "-m", "sasrec", "--seeds", str(SEEDS), "--profile", "smoke", "--data-dir", "data", "--json"]
    workers = [cli_process.start(*grid, cwd=tmp_path) for _ in range(2)]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [err for _, err in outputs]

    statuses: dict[int, list[str]] = {seed: [] for seed in range(SEEDS)}
    for stdout, _ in outputs:
        for outcome in json.loads(stdout):
            statuses[outcome["seed"]].append(outcome["status"])
    # every run finished by exactly one worker; the other found it done
    assert all(sorted(found) == ["finished", "skipped"] for found in statuses.values()), statuses
    runs = tmp_path / "results" / "tiny" / "sasrec"
    pids = {w.pid for w in workers}
    for seed in range(SEEDS):
        manifest = json.loads((runs / f"seed-{seed}" / "manifest.json").read_text())
        assert manifest["status"] == "finished" and manifest["worker"]["pid"] in pids
        assert len(manifest["resume"]["attempts"]) == 1  # trained once, never restarted
    assert sorted(p.name for p in runs.iterdir()) == [f"seed-{s}" for s in range(SEEDS)]  # no lock, no partial left


def _config(tmp_path, **kw) -> RunConfig:
    return RunConfig(dataset="tiny", model="popularity", profile="smoke", data_dir=tmp_path / "data",
                     results_dir=tmp_path / "results", **kw)  # fmt: skip


def test_a_run_whose_worker_died_is_taken_over_and_the_takeover_is_logged(tmp_path):
    write_sequences(tmp_path / "data", "tiny", popular_head_sequences())
    lock = tmp_path / "results" / "tiny" / "popularity" / "seed-0.lock"
    write_foreign_lock(lock, host=socket.gethostname(), pid=_dead_pid(), heartbeat=time.time())
    options = ["--data-dir", str(tmp_path / "data"), "--results-dir", str(tmp_path / "results")]
    result = CliRunner().invoke(app, ["run", "-d", "tiny", "-m", "popularity", "--profile", "smoke", "--json", *options])
    assert result.exit_code == 0, result.output
    assert [o["status"] for o in json.loads(result.stdout)] == ["finished"]
    assert "took over the lock" in " ".join(result.stderr.split()) and "is no longer running" in result.stderr
    assert not lock.exists()


def test_a_run_held_by_a_live_worker_is_left_to_it(tmp_path):
    write_sequences(tmp_path / "data", "tiny", popular_head_sequences())
    config = _config(tmp_path)
    other = FileLock(tmp_path / "results" / "tiny" / "popularity" / "seed-0.lock")
    other.acquire()
    outcome = run_one(config, wait=False)
    assert outcome.status == "busy" and f"pid {os.getpid()}" in outcome.error
    assert not (tmp_path / "results" / "tiny" / "popularity" / "seed-0").exists()
    other.release()
    assert run_one(config, wait=False).status == "finished"
