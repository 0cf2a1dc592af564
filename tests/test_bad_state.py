"""Bad state under results/: a broken run is named, left out of reports and redone after being moved aside;
a finished run is never replaced by a run of another config."""

import json

import pytest
from typer.testing import CliRunner

from flexcode_bench.cli import app
from tests.support.prepared_on_disk import popular_head_sequences, write_sequences

DAMAGE = {
    "per_user.parquet": lambda data: data[: len(data) // 2],  # truncated
    "manifest.json": lambda data: data[:-20],  # cut mid-object
    "config.yaml": lambda data: b"model: [unclosed\n" + data,  # not YAML
}


@pytest.fixture
def workspace(tmp_path):
    write_sequences(tmp_path / "data", "tiny", popular_head_sequences())
    options = ["--data-dir", str(tmp_path / "data"), "--results-dir", str(tmp_path / "results")]
    return options, tmp_path / "results" / "tiny" / "popularity"


def cli(*args):
    return CliRunner().invoke(app, list(args))


def run_popularity(options, *more):
    result = cli("run", "-d", "tiny", "-m", "popularity", "--json", *options, *more)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_report_names_a_broken_file_and_leaves_that_run_out_saying_so_in_the_caption(workspace, name):
    options, runs = workspace
    run_popularity(options, "--seeds", "2", "--profile", "smoke")
    file = runs / "seed-1" / name
    file.write_bytes(DAMAGE[name](file.read_bytes()))

    result = cli("report", "--results-dir", options[3], "--json", "--baseline", "none")
    assert result.exit_code == 0, result.output
    assert f"seed-1/{name}" in "".join(result.stderr.split())  # the warning names the file (however a path is folded)
    report = json.loads(result.stdout)
    assert [row["seeds"] for row in report["rows"]] == [[0]]
    (note,) = report["left_out_runs"]["tiny"]
    assert note.startswith("popularity/seed-1 unreadable") and name in note
    table = cli("report", "--results-dir", options[3], "--format", "md", "--baseline", "none")
    assert "Leftout:popularity/seed-1unreadable" in "".join(table.stdout.split())


@pytest.mark.parametrize("name", sorted(DAMAGE))
def test_run_moves_a_broken_run_aside_keeping_its_files_and_redoes_it(workspace, name):
    options, runs = workspace
    run_popularity(options, "--profile", "smoke")
    file = runs / "seed-0" / name
    damaged = DAMAGE[name](file.read_bytes())
    file.write_bytes(damaged)

    (outcome,) = run_popularity(options, "--profile", "smoke")
    assert outcome["status"] == "finished"  # redone, not skipped
    (aside,) = runs.glob("seed-0.broken-*")
    assert (aside / name).read_bytes() == damaged  # never deleted
    assert json.loads((runs / "seed-0" / "manifest.json").read_text())["status"] == "finished"


def test_a_run_of_another_profile_keeps_the_finished_one_aside_and_report_says_which_config_it_used(workspace):
    options, runs = workspace
    (smoke,) = run_popularity(options, "--profile", "smoke")
    (quick,) = run_popularity(options, "--profile", "quick")
    assert quick["status"] == "finished" and quick["config_hash"] != smoke["config_hash"]
    kept = runs / f"seed-0@{smoke['config_hash']}"
    assert json.loads((kept / "manifest.json").read_text())["config_hash"] == smoke["config_hash"]

    report = json.loads(cli("report", "--results-dir", options[3], "--json", "--baseline", "none").stdout)
    (note,) = report["left_out_runs"]["tiny"]
    assert "(profile smoke) left out; used config" in note and "(profile quick)" in note

    # back to the first config: the kept run is put back (nothing retrained), the other kept aside in turn
    (again,) = run_popularity(options, "--profile", "smoke")
    assert again["status"] == "skipped"
    assert json.loads((runs / "seed-0" / "manifest.json").read_text())["config_hash"] == smoke["config_hash"]
    assert (runs / f"seed-0@{quick['config_hash']}").is_dir()
