import json
import subprocess
import sys

from typer.testing import CliRunner

from flexcode_bench.cli import app


def test_ls_datasets_json_lists_the_catalogue_with_published_counts():
    result = CliRunner().invoke(app, ["ls", "datasets", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["amazon-beauty"]["expected"] == {"n_users": 22363, "n_items": 12101, "n_interactions": 198502}
    assert rows["ml-100k"]["sources"] == ["recbole"]


def test_ls_models_lists_the_registry_and_the_recbole_route_without_importing_them():
    result = CliRunner().invoke(app, ["ls", "models", "--json"])
    assert result.exit_code == 0, result.output
    names = [row["name"] for row in json.loads(result.stdout)]
    assert "sasrec" in names and "popularity" in names and "recbole:<Name>" in names


def test_help_and_ls_never_import_torch_or_pandas():
    code = (
        "import sys; from typer.testing import CliRunner; from flexcode_bench.cli import app;"
        "r1 = CliRunner().invoke(app, ['--help']); r2 = CliRunner().invoke(app, ['ls', 'datasets']); r3 = CliRunner().invoke(app, ['ls', 'models']);"
        "assert r1.exit_code == r2.exit_code == r3.exit_code == 0, (r1.output, r2.output, r3.output);"
        "heavy = [m for m in ('torch', 'pandas', 'sentence_transformers', 'recbole') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _grid_with_every_state(results):
    from flexcode_bench.results import build_manifest, config_hash, run_dir, write_failed_run
    from tests.reporting.fake_runs import write_fake_run

    write_fake_run(results, model="sasrec", values={"recall@10": [1.0, 0.0], "ndcg@10": [0.5, 0.0]})
    config = {"dataset": "toy", "model": "tiger", "seed": 0, "profile": "smoke"}
    manifest = build_manifest(dataset="toy", dataset_fingerprint="fp", model="tiger", seed=0, device="cpu",
                              config_hash=config_hash(config), protocol={}, timings={"load": 0.5}, status="failed",
                              error="RuntimeError: out of memory\n\ntraceback")  # fmt: skip
    write_failed_run(run_dir(results, "toy", "tiger", 0), config=config, manifest=manifest)
    (results / "toy" / "flexcode" / "seed-1.partial").mkdir(parents=True)  # an interrupted run's checkpoints
    broken = results / "toy" / "flexcode" / "seed-2"
    broken.mkdir()
    (broken / "manifest.json").write_text("{ not json")
    (results / "toy" / "flexcode" / "seed-3.broken-20261201T030000Z").mkdir()  # set aside by run
    kept = write_fake_run(results, model="popularity", values={"recall@10": [0.0, 0.0], "ndcg@10": [0.0, 0.0]})
    kept.rename(kept.with_name("seed-0@0123abcd"))  # a finished run of another config, kept aside by run


def test_ls_runs_lists_finished_failed_unfinished_and_unreadable_runs_with_their_numbers(tmp_path):
    _grid_with_every_state(tmp_path)
    result = CliRunner().invoke(app, ["ls", "runs", "--results-dir", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    rows = {(r["model"], r["seed"]): r for r in json.loads(result.stdout)}
    assert {key: row["status"] for key, row in rows.items()} == {
        ("flexcode", 1): "unfinished", ("flexcode", 2): "unreadable", ("flexcode", 3): "set aside",
        ("popularity", 0): "finished", ("sasrec", 0): "finished", ("tiger", 0): "failed",
    }
    assert rows[("popularity", 0)]["kept_aside"] and not rows[("sasrec", 0)]["kept_aside"]
    finished = rows[("sasrec", 0)]
    assert (finished["test_recall@10"], finished["test_ndcg@10"], finished["wall_seconds"]) == (0.5, 0.25, 1.0)
    assert len(finished["config_hash"]) == 16 and finished["dirty"] in (True, False, None)
    assert rows[("tiger", 0)]["profile"] == "smoke" and rows[("tiger", 0)]["error"] == "RuntimeError: out of memory"
    assert "not readable JSON" in rows[("flexcode", 2)]["error"]


def test_ls_runs_table_makes_every_run_that_did_not_finish_stand_out(tmp_path):
    _grid_with_every_state(tmp_path)
    result = CliRunner().invoke(app, ["ls", "runs", "--results-dir", str(tmp_path)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "0.5000" in result.stdout and "0.2500" in result.stdout
    for status in ("failed", "unfinished", "unreadable", "set aside"):
        assert f"warning: {status}:" in result.output
    assert "2 finished, 1 failed, 1 unfinished, 1 unreadable, 1 set aside" in result.output
    assert "kept aside" in result.stdout
