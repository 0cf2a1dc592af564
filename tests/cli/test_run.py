"""`flexbench run`: the grid, its options, precedence, and resuming after an interruption."""

import json

import pytest
from typer.testing import CliRunner

from flexcode_bench.cli import app
from flexcode_bench.models import ABLATION_MODELS
from tests.support.prepared_on_disk import popular_head_sequences, write_sequences


@pytest.fixture
def dirs(tmp_path):
    write_sequences(tmp_path / "data", "tiny", popular_head_sequences())
    return ["-d", "tiny", "--data-dir", str(tmp_path / "data"), "--results-dir", str(tmp_path / "results")], tmp_path


def run(*args):
    return CliRunner().invoke(app, ["run", *args])


def test_all_baselines_and_ablations_expand_into_the_full_grid_in_a_dry_run(dirs):
    options, _ = dirs
    result = run(*options, "--all-baselines", "--ablations", "--seeds", "2", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    planned = json.loads(result.stdout)
    models = list(dict.fromkeys(p["model"] for p in planned))
    assert models == ["flexcode", "tiger", "sasrec", *ABLATION_MODELS]
    assert len(planned) == 2 * len(models) and {p["action"] for p in planned} == {"run"}


def test_a_dry_run_shows_finished_runs_as_skipped_and_trains_nothing(dirs):
    options, tmp_path = dirs
    assert run(*options, "-m", "popularity", "--profile", "smoke").exit_code == 0
    planned = json.loads(run(*options, "-m", "popularity", "-m", "sasrec", "--profile", "smoke", "--dry-run", "--json").stdout)
    assert [(p["model"], p["action"]) for p in planned] == [("popularity", "skip"), ("sasrec", "run")]
    assert not (tmp_path / "results" / "tiny" / "sasrec").exists()


def test_flags_override_the_config_file_which_overrides_the_profile(dirs):
    options, tmp_path = dirs
    config = tmp_path / "grid.yaml"
    config.write_text("profile: smoke\nseeds: [4]\nmodel_overrides:\n  sasrec: {hidden: 16, n_heads: 1}\nprotocol: {mask_history: true}\n")
    result = run(*options, "-m", "sasrec", "--config", str(config), "--no-mask-history", "--json")
    assert result.exit_code == 0, result.output
    (outcome,) = json.loads(result.stdout)
    assert outcome["seed"] == 4
    saved = (tmp_path / "results" / "tiny" / "sasrec" / "seed-4" / "config.yaml").read_text()
    assert "hidden: 16" in saved and "mask_history: false" in saved and "profile: smoke" in saved


def test_a_mistyped_key_in_the_config_file_is_named(dirs):
    options, tmp_path = dirs
    config = tmp_path / "grid.yaml"
    config.write_text("profiel: smoke\n")
    result = run(*options, "--config", str(config))
    assert result.exit_code == 2 and "profiel" in result.output


def test_an_interrupted_grid_resumes_with_only_the_unfinished_runs(dirs, monkeypatch):
    options, tmp_path = dirs
    import baselines.popularity as popularity

    real_fit = popularity.Popularity.fit
    calls = []

    def interrupted_fit(self, data, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C during the third run
        return real_fit(self, data, **kwargs)

    monkeypatch.setattr(popularity.Popularity, "fit", interrupted_fit)
    grid = [*options, "-m", "popularity", "--seeds", "4", "--profile", "smoke", "--json"]
    assert run(*grid).exit_code != 0
    results = tmp_path / "results" / "tiny" / "popularity"
    # nothing half-written for seed 2: only its resume state, beside where its run folder will go
    assert sorted(p.name for p in results.iterdir()) == ["seed-0", "seed-1", "seed-2.partial"]
    before = {p: p.read_bytes() for p in results.glob("seed-[01]/*")}

    monkeypatch.setattr(popularity.Popularity, "fit", real_fit)
    outcomes = json.loads(run(*grid).stdout)
    assert [o["status"] for o in outcomes] == ["skipped", "skipped", "finished", "finished"]
    assert all(p.read_bytes() == content for p, content in before.items())
    assert sorted(p.name for p in results.iterdir()) == ["seed-0", "seed-1", "seed-2", "seed-3"]  # no partial or lock left


def flat(text: str) -> str:
    """Text without any whitespace: immune to Rich folding a long path or line at any terminal width."""
    return "".join(text.split())


def test_every_unknown_name_and_bad_option_of_the_grid_is_reported_at_once_before_anything_is_written(dirs):
    options, tmp_path = dirs
    config = tmp_path / "grid.yaml"
    config.write_text("model_overrides:\n  sasrec: {hiden: 16}\n")
    result = run("-d", "tiny", "-d", "nope", "-m", "sasrec", "-m", "sasrek", "-m", "popularity", "--device", "tpu",
                 "--config", str(config), "--seeds", "2", *options[2:])  # fmt: skip
    assert result.exit_code == 2
    said = flat(result.output)
    assert flat("4 problem(s) in the grid; nothing was run") in said
    assert flat("unknown dataset 'nope'") in said and "'sasrek'" in said and "'tpu'" in said and "'hiden'" in said
    assert said.count("'nope'") == 1  # once for the grid, not once per run
    assert not (tmp_path / "results").exists()


def test_a_dataset_never_prepared_is_named_with_the_command_that_prepares_it(dirs):
    options, tmp_path = dirs
    result = run("-d", "ml-1m", "-m", "popularity", *options[2:])
    assert result.exit_code == 2
    said = flat(result.output)
    assert flat("dataset 'ml-1m' is not prepared") in said and flat("flexbench prepare ml-1m") in said
    assert not (tmp_path / "results").exists()


def test_a_prepared_file_changed_after_prepare_is_refused_and_named(dirs):
    options, tmp_path = dirs
    items = tmp_path / "data" / "tiny" / "items.parquet"
    items.write_bytes(items.read_bytes()[:-10] + b"0123456789")
    result = run(*options, "-m", "popularity")
    assert result.exit_code == 2
    said = flat(result.output)
    assert flat("items.parquet changed after `flexbench prepare`") in said and "--force" in said
    assert not (tmp_path / "results").exists()
