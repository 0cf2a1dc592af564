import json

import pytest
from typer.testing import CliRunner

from flexcode_bench.cli import app
from tests.support.prepared_on_disk import popular_head_sequences, write_sequences


@pytest.fixture
def dirs(tmp_path):
    write_sequences(tmp_path / "data", "tiny", popular_head_sequences())
    return ["--data-dir", str(tmp_path / "data"), "--results-dir", str(tmp_path / "results")], tmp_path / "results"


def test_run_writes_one_record_per_seed_and_reports_them_as_json(dirs):
    options, _ = dirs
    result = CliRunner().invoke(app, ["run", "-d", "tiny", "-m", "popularity", "--seeds", "2", "--profile", "smoke", "--json", *options])
    assert result.exit_code == 0, result.output
    outcomes = json.loads(result.stdout)
    assert [(o["seed"], o["status"]) for o in outcomes] == [(0, "finished"), (1, "finished")]
    assert 0.0 <= outcomes[0]["test"]["ndcg@10"] <= 1.0

    again = CliRunner().invoke(app, ["run", "-d", "tiny", "-m", "popularity", "--seeds", "2", "--profile", "smoke", "--json", *options])
    assert [o["status"] for o in json.loads(again.stdout)] == ["skipped", "skipped"]


def test_report_by_popularity_gives_mean_and_std_over_seeds_per_bucket(dirs):
    options, results_dir = dirs
    CliRunner().invoke(app, ["run", "-d", "tiny", "-m", "popularity", "--seed", "0", "--seed", "3", "--profile", "smoke", *options])
    result = CliRunner().invoke(app, ["report", "--results-dir", str(results_dir), "--by-popularity", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (row,) = report["rows"]
    assert row["model"] == "popularity" and row["seeds"] == [0, 3]
    assert row["overall"]["recall@10"]["n_seeds"] == 2
    # a deterministic model: identical seeds, zero spread
    assert row["overall"]["recall@10"]["std"] == 0.0
    assert set(row["by_bucket"]) <= {"head", "torso", "tail", "cold"} and "head" in row["by_bucket"]
    assert sum(report["bucket_sizes"]["tiny"].values()) == 60


def test_report_table_shows_bucket_columns_with_their_sizes(dirs):
    options, results_dir = dirs
    CliRunner().invoke(app, ["run", "-d", "tiny", "-m", "popularity", "--profile", "smoke", *options])
    result = CliRunner().invoke(app, ["report", "--results-dir", str(results_dir), "--by-popularity"], terminal_width=250)
    assert result.exit_code == 0, result.output
    assert "popularity" in result.stdout and "head (n=" in result.stdout and "recall@10" in result.stdout


def test_report_without_runs_says_how_to_make_some(tmp_path):
    result = CliRunner().invoke(app, ["report", "--results-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no finished runs" in result.output and "flexbench run" in result.output


def test_seed_and_seeds_together_are_refused(dirs):
    options, _ = dirs
    result = CliRunner().invoke(app, ["run", "-d", "tiny", "--seed", "1", "--seeds", "2", *options])
    assert result.exit_code == 2 and "--seed or --seeds" in result.output
