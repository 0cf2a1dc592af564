"""Preemption-safe runs: a killed `flexbench run` resumes from its last checkpoint and ends bit-for-bit where
an uninterrupted run ends; Ctrl-C and SIGTERM say what happened; workers share a grid without collisions."""

import json
import signal
import time

import pytest
import yaml

from tests.support import cli_process
from tests.support.prepared_on_disk import popular_head_sequences, write_sequences

# ~0.1 s per epoch of the smoke SASRec on this dataset: 30 epochs leave seconds to interrupt it after its first
# checkpoint even on a loaded machine, and stay short for CI.
SLOW_SASREC = "profile: smoke\nmodel_overrides:\n  sasrec: {max_epochs: 30, patience: 30}\n"


@pytest.fixture
def workspace(tmp_path):
    write_sequences(tmp_path / "data", "tiny", popular_head_sequences(n_users=200, n_items=60, length=12))
    (tmp_path / "grid.yaml").write_text(SLOW_SASREC)
    return tmp_path


def _args(results: str, *more: str) -> list[str]:
    return ["run", "-d", "tiny", "-m", "sasrec", "--data-dir", "data", "--results-dir", results, "--config", "grid.yaml", *more]


def _wait_for_checkpoint(process, info, *, epoch: int, timeout: float = 120) -> int:
    """The checkpointed epoch, once it is >= ``epoch`` and the attempt record has caught up with it.

    The record (attempts.json) is written just after the checkpoint; on a loaded machine a kill can land
    in between, and the killed attempt then rightly records the epoch before.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be interrupted"
        try:
            saved = json.loads(info.read_text())["epoch"]
            recorded = json.loads((info.parent / "attempts.json").read_text())["attempts"][-1]["last_epoch"]
        except (OSError, ValueError, KeyError, IndexError):
            saved = recorded = 0
        if saved >= epoch and recorded >= saved:
            return saved
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint of epoch {epoch} within {timeout} s")


def test_a_run_killed_mid_training_resumes_and_ends_byte_identical_to_an_uninterrupted_run(workspace):
    reference = cli_process.start(*_args("uninterrupted"), cwd=workspace)  # runs alongside the killed one
    killed = cli_process.start(*_args("killed"), cwd=workspace)
    partial = workspace / "killed" / "tiny" / "sasrec" / "seed-0.partial"
    saved = _wait_for_checkpoint(killed, partial / "checkpoint.json", epoch=1)
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    assert (workspace / "killed" / "tiny" / "sasrec" / "seed-0.lock").is_file()  # a dead worker cannot release it

    rerun = cli_process.run(*_args("killed", "--json"), cwd=workspace)
    assert rerun.returncode == 0, rerun.stderr
    assert reference.wait(timeout=300) == 0, reference.stderr.read()

    run = workspace / "killed" / "tiny" / "sasrec" / "seed-0"
    (outcome,) = json.loads(rerun.stdout)
    assert outcome["status"] == "finished" and outcome["resumed_from_epoch"] >= saved
    resume = json.loads((run / "manifest.json").read_text())["resume"]
    assert resume["resumed"] and resume["resumed_from_epoch"] == outcome["resumed_from_epoch"]
    first, second = resume["attempts"]
    assert first["ended"] == "killed" and first["seconds"] > 0 and first["last_epoch"] >= saved
    assert second["ended"] == "finished" and second["from_epoch"] == resume["resumed_from_epoch"]
    assert "took over the lock" in rerun.stderr  # the dead worker's lock, logged

    curve = json.loads((run / "manifest.json").read_text())["diagnostics"]["training_curve"]
    assert [e["epoch"] for e in curve] == list(range(1, 31))  # each epoch once, none redone twice in the record
    uninterrupted = workspace / "uninterrupted" / "tiny" / "sasrec" / "seed-0"
    assert (run / "per_user.parquet").read_bytes() == (uninterrupted / "per_user.parquet").read_bytes()
    assert (run / "metrics.json").read_bytes() == (uninterrupted / "metrics.json").read_bytes()
    leftovers = sorted(p.name for p in run.parent.iterdir())
    assert leftovers == ["seed-0"]  # checkpoints removed, lock released
    assert not (run / "model.pt").exists()  # the best weights are kept only with --keep-checkpoints


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_say_what_finished_where_the_run_stopped_and_how_to_continue(workspace, sig, code):
    process = cli_process.start(*_args("results"), cwd=workspace)
    partial = workspace / "results" / "tiny" / "sasrec" / "seed-0.partial"
    _wait_for_checkpoint(process, partial / "checkpoint.json", epoch=1)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code
    said = " ".join(stderr.split())  # immune to the terminal's line wrapping
    assert "interrupted: 0 run(s) finished" in said
    assert "tiny · sasrec · seed 0 was interrupted during epoch" in said
    assert "run the same command again to continue" in said
    record = json.loads((partial / "attempts.json").read_text())
    assert record["attempts"][-1]["ended"] == "interrupted"
    config = yaml.safe_load((partial / "config.yaml").read_text())  # an unfinished run says what it trains
    assert config["model"] == "sasrec" and config["config_hash"] == record["config_hash"]
    assert not (workspace / "results" / "tiny" / "sasrec" / "seed-0.lock").exists()  # released on the way out


@pytest.mark.parametrize("model", ["tiger", "flexcode"])
def test_a_generative_run_interrupted_after_an_epoch_reuses_its_codes_and_ends_identical(tmp_path, monkeypatch, model):
    import importlib

    from flexcode_bench.config import RunConfig
    from flexcode_bench.runner import run_one

    write_sequences(tmp_path / "data", "tiny", popular_head_sequences(n_users=80, n_items=40, length=8))

    def config(results: str) -> RunConfig:
        return RunConfig(dataset="tiny", model=model, profile="smoke", model_overrides={"max_epochs": 3, "patience": 3},
                         data_dir=tmp_path / "data", results_dir=tmp_path / results)  # fmt: skip

    reference = run_one(config("uninterrupted"))

    def ctrl_c_after_epoch_2(report):
        if report.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_one(config("interrupted"), on_epoch=ctrl_c_after_epoch_2)
    module, cls = {"tiger": ("baselines.tiger", "Tiger"), "flexcode": ("flexcode_bench.models.flexcode", "FlexCode")}[model]
    calls = []
    monkeypatch.setattr(getattr(importlib.import_module(module), cls), "build_codes", lambda *a, **k: calls.append(1))
    resumed = run_one(config("interrupted"))
    assert resumed.status == "finished" and resumed.resumed_from_epoch == 2
    assert calls == []  # the tokenisation came from the partial folder
    assert (resumed.path / "per_user.parquet").read_bytes() == (reference.path / "per_user.parquet").read_bytes()


def test_a_run_cut_off_twice_continues_from_the_later_cut_and_says_so(tmp_path):
    from flexcode_bench.config import RunConfig
    from flexcode_bench.runner import run_one

    write_sequences(tmp_path / "data", "tiny", popular_head_sequences(n_users=80, n_items=40, length=8))
    config = RunConfig(dataset="tiny", model="sasrec", profile="smoke", model_overrides={"max_epochs": 4, "patience": 4},
                       data_dir=tmp_path / "data", results_dir=tmp_path / "results")  # fmt: skip

    def ctrl_c_after(epoch):
        def on_epoch(report):
            if report.epoch == epoch:
                raise KeyboardInterrupt

        return on_epoch

    for cut in (1, 3):
        with pytest.raises(KeyboardInterrupt):
            run_one(config, on_epoch=ctrl_c_after(cut))
    resumed = run_one(config)
    assert resumed.status == "finished" and resumed.resumed_from_epoch == 3
    resume = json.loads((resumed.path / "manifest.json").read_text())["resume"]
    assert resume["resumed_from_epoch"] == 3
    assert [(a["from_epoch"], a["last_epoch"], a["ended"]) for a in resume["attempts"]] == [
        (0, 1, "interrupted"), (1, 3, "interrupted"), (3, 4, "finished")]


def test_keep_checkpoints_keeps_the_best_weights_in_the_run_folder_and_nothing_else_behind(workspace):
    from typer.testing import CliRunner

    from flexcode_bench.models import build_model
    from flexcode_bench.cli import app

    options = ["--data-dir", str(workspace / "data"), "--results-dir", str(workspace / "results")]
    result = CliRunner().invoke(app, ["run", "-d", "tiny", "-m", "sasrec", "--profile", "smoke", "--keep-checkpoints", *options])
    assert result.exit_code == 0, result.output
    run = workspace / "results" / "tiny" / "sasrec" / "seed-0"
    assert sorted(p.name for p in run.parent.iterdir()) == ["seed-0"]
    import torch

    model = build_model("sasrec", "smoke", {})
    model.load_state_dict(torch.load(run / "model.pt"))  # loads into a fresh model: ready to re-evaluate
    assert model.net.n_items == 60
