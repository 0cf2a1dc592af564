"""The product card's three commands, as written, in a fresh folder: prepare, run, report.

`run` and `report` name no dataset: they must use what `prepare` just made (and what `run` wrote),
not a built-in default. Real subprocesses, a real loopback mirror for the download.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from flexcode_bench.cli import app
from flexcode_bench.data.prepared import prepared_datasets
from tests.support.http_server import serve_folder
from tests.support.mcauley_fixtures import write_mcauley_fixture

MCAULEY_PATH = "data/amazon/productGraph/categoryFiles"


def flexbench(*args: str, cwd) -> subprocess.CompletedProcess:
    # The installed console script, as a user types it; FLEXBENCH_DATA unset so ./data is the default.
    executable = shutil.which("flexbench") or ""
    entry = [executable] if executable else [sys.executable, "-c", "from flexcode_bench.cli import main; main()"]
    command = [*entry, *args]
    env = {k: v for k, v in os.environ.items() if k != "FLEXBENCH_DATA"} | {"OMP_NUM_THREADS": "1", "COLUMNS": "250"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_prepare_then_run_all_baselines_then_report_by_popularity_uses_the_prepared_dataset(tmp_path):
    write_mcauley_fixture(tmp_path / "served" / MCAULEY_PATH)
    work = tmp_path / "work"
    work.mkdir()
    with serve_folder(tmp_path / "served") as server:
        prepared = flexbench("prepare", "amazon-sports", "--mirror", server.url, cwd=work)
    assert prepared.returncode == 0, prepared.stderr

    ran = flexbench("run", "--all-baselines", "--profile", "smoke", "--json", cwd=work)
    assert ran.returncode == 0, ran.stderr
    outcomes = json.loads(ran.stdout)
    assert {(o["dataset"], o["model"], o["status"]) for o in outcomes} == {
        ("amazon-sports", model, "finished") for model in ("flexcode", "tiger", "sasrec")
    }
    assert sorted(p.name for p in (work / "results").iterdir()) == ["amazon-sports"]

    reported = flexbench("report", "--by-popularity", "--format", "md", cwd=work)
    assert reported.returncode == 0, reported.stderr
    assert "### amazon-sports (test)" in reported.stdout
    for model in ("flexcode", "tiger", "sasrec"):
        assert f"| {model} | 1 |" in reported.stdout
    assert "head (n=" in reported.stdout


def test_run_without_a_dataset_and_nothing_prepared_names_the_prepare_command(tmp_path):
    result = CliRunner().invoke(app, ["run", "--data-dir", str(tmp_path / "data"), "--dry-run"])
    assert result.exit_code == 2
    assert "no dataset is prepared" in result.output and "flexbench prepare" in result.output


def test_every_prepared_dataset_counts_and_downloads_or_staging_folders_do_not(tmp_path):
    for name in ("ml-100k", "amazon-toys", ".tmp-amazon-beauty", "raw"):
        (tmp_path / name).mkdir()
    for name in ("ml-100k", "amazon-toys", ".tmp-amazon-beauty"):
        (tmp_path / name / "manifest.json").write_text("{}")
    assert prepared_datasets(tmp_path) == ["amazon-toys", "ml-100k"]
    assert prepared_datasets(tmp_path / "absent") == []


@pytest.mark.parametrize("datasets", [["a"], ["a", "b"]])
def test_a_dry_run_without_a_dataset_plans_every_prepared_one(tmp_path, datasets):
    from tests.support.prepared_on_disk import popular_head_sequences, write_sequences

    for name in datasets:
        write_sequences(tmp_path / "data", name, popular_head_sequences())
    result = CliRunner().invoke(app, ["run", "-m", "popularity", "--data-dir", str(tmp_path / "data"),
                                      "--results-dir", str(tmp_path / "results"), "--dry-run", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [p["dataset"] for p in json.loads(result.stdout)] == datasets
