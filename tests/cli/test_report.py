"""``flexbench report`` options: each is checked by what the user reads, not only by the exit code."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from flexcode_bench.cli import app
from tests.reporting.fake_runs import PROTOCOL, three_models, write_fake_run


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """toy: flexcode, sasrec (worse NDCG@10) and tiger, two seeds each, metrics recall@10 and ndcg@10."""
    folder = tmp_path_factory.mktemp("results")
    three_models(folder)
    return folder


def report(results, *args: str, width: int = 250):
    return CliRunner().invoke(app, ["report", "--results-dir", str(results), *args], terminal_width=width)


def test_default_table_marks_significant_cells_and_states_the_test_in_the_caption(results):
    result = report(results, "--k", "10")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "recall@10" in out and "ndcg@10" in out and "recall@5" not in out
    sasrec = next(line for line in out.splitlines() if "sasrec" in line)
    assert sasrec.count("†") == 1  # NDCG@10 only; tiger's gain does not survive Holm
    caption = " ".join(out.split("└")[-1].split())  # the caption wraps at the table's width
    assert "paired t-test" in caption and "Holm correction" in caption and "family of 4 comparisons" in caption


def test_metrics_and_markdown_format(results):
    result = report(results, "--metrics", "ndcg@10", "--format", "md")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("### toy (test)")
    assert "| model | seeds | ndcg@10 |" in result.stdout and "recall" not in result.stdout.split("\n\n")[1]


def test_latex_to_an_output_file_keeps_stdout_empty(results, tmp_path):
    target = tmp_path / "tables" / "main.tex"
    result = report(results, "--k", "10", "--format", "latex", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and "wrote latex report" in result.stderr
    latex = target.read_text()
    assert r"\toprule" in latex and r"\bottomrule" in latex and r"$^{\dagger}$" in latex
    assert not list(target.parent.glob(".tmp-*"))  # atomic write left nothing behind


def test_csv_by_popularity_has_a_row_per_model_metric_and_bucket(results):
    result = report(results, "--k", "10", "--by-popularity", "--format", "csv")
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert len(frame) == 3 * 2 * 3 and set(frame.bucket) == {"overall", "head", "tail"}
    assert frame.loc[(frame.model == "sasrec") & (frame.metric == "ndcg@10") & (frame.bucket == "overall"), "significant"].item()


def test_json_flag_is_an_alias_of_format_json_and_refuses_a_contradiction(results):
    alias = report(results, "--k", "10", "--json")
    explicit = report(results, "--k", "10", "--format", "json")
    assert json.loads(alias.stdout) == json.loads(explicit.stdout)
    clash = report(results, "--k", "10", "--json", "--format", "csv")
    assert clash.exit_code == 2 and "--json is short for --format json" in clash.output


def test_baseline_test_correction_alpha_and_seed_handling_reach_the_report(results):
    result = report(results, "--k", "10", "--json", "--baseline", "sasrec", "--test", "randomization",
                    "--correction", "bh", "--alpha", "0.01", "--seeds", "per-seed")  # fmt: skip
    data = json.loads(result.stdout)
    assert data["settings"] | {"n_resamples": None} == {"baseline": "sasrec", "test": "randomization", "correction": "bh",
                                                        "alpha": 0.01, "seeds": "per-seed", "allow_mixed": False, "n_resamples": None}  # fmt: skip
    assert {c["baseline"] for c in data["comparisons"]} == {"sasrec"}
    assert sorted({c["seed"] for c in data["comparisons"]}) == [0, 1]
    assert data["tables"]["toy"]["family_size"] == 2 * 2 * 2  # models × metrics × seeds


def test_resamples_set_the_randomization_resolution(results):
    data = json.loads(report(results, "--metrics", "ndcg@10", "--json", "--test", "randomization", "--resamples", "99").stdout)
    assert data["settings"]["n_resamples"] == 99
    for comparison in data["comparisons"]:
        assert comparison["p_value"] * 100 == pytest.approx(round(comparison["p_value"] * 100))  # (b + 1) / (99 + 1)


def test_caption_follows_the_chosen_test_and_correction(results):
    out = report(results, "--k", "10", "--format", "md", "--test", "wilcoxon", "--correction", "none").stdout
    assert "Wilcoxon signed-rank test" in out and "uncorrected" in out


def test_baseline_none_or_absent_gives_no_tests_and_says_so(results):
    none = report(results, "--k", "10", "--format", "md", "--baseline", "none")
    assert "No significance tests (no baseline chosen)" in none.stdout and "†" not in none.stdout.split("*")[0]
    absent = report(results, "--k", "10", "--json", "--baseline", "bert4rec")
    assert json.loads(absent.stdout)["comparisons"] == []  # stdout stays pure JSON ...
    assert "baseline 'bert4rec' has no runs" in absent.stderr  # ... the note goes to stderr


def test_dataset_model_and_split_filters(results):
    data = json.loads(report(results, "--k", "10", "--json", "-d", "toy", "-m", "flexcode", "-m", "tiger", "--split", "valid").stdout)
    assert data["split"] == "valid" and [r["model"] for r in data["rows"]] == ["flexcode", "tiger"]
    assert {c["model"] for c in data["comparisons"]} == {"tiger"}
    missing = report(results, "-d", "ml-1m")
    assert missing.exit_code == 2 and "no finished runs" in missing.output


def test_plots_are_written_into_the_given_folder(results, tmp_path):
    result = report(results, "--metrics", "ndcg@10", "--format", "csv", "--plots", str(tmp_path / "fig"))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "fig").iterdir()) == [
        "toy-buckets-ndcg_at_10.pdf", "toy-buckets-ndcg_at_10.png", "toy-frontier.pdf", "toy-frontier.png",
    ]  # fmt: skip (the frontier plots test Recall@10 whatever the table's metrics)
    assert "wrote 4 figure files" in result.stderr and "skipped" in result.stderr


def test_mixed_protocols_need_allow_mixed(tmp_path):
    write_fake_run(tmp_path, model="flexcode", values={"ndcg@10": [0.3, 0.2, 0.4]})
    write_fake_run(tmp_path, model="sasrec", values={"ndcg@10": [0.1, 0.2, 0.3]}, protocol={**PROTOCOL, "mask_history": True})
    refused = report(tmp_path, "--metrics", "ndcg@10")
    assert refused.exit_code == 2 and "history masking (mask_history)" in refused.output and "--allow-mixed" in refused.output
    allowed = report(tmp_path, "--metrics", "ndcg@10", "--allow-mixed", "--format", "md")
    assert allowed.exit_code == 0 and r"runs differ in protocol (mask\_history)" in allowed.stdout
    assert "history masking mixed" in allowed.stdout
    assert "mask_history" in allowed.stderr


def test_runs_on_different_users_are_refused_naming_both(tmp_path):
    a = write_fake_run(tmp_path, model="flexcode", values={"ndcg@10": [0.3, 0.2]})
    b = write_fake_run(tmp_path, model="sasrec", values={"ndcg@10": [0.1, 0.2]}, users=[0, 9])
    result = report(tmp_path, "--metrics", "ndcg@10", width=1000)
    assert result.exit_code == 2 and str(a) in result.output and str(b) in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--format", "xlsx"], "unknown format"), (["--test", "anova"], "unknown test"),
     (["--correction", "bonf"], "unknown correction"), (["--seeds", "avg"], "unknown seed handling"),
     (["--metrics", "ndcg@10", "--k", "10"], "not both"), (["--metrics", "hit@10"], "not in run")],
)  # fmt: skip
def test_bad_options_fail_with_a_message(results, args, message):
    result = report(results, *args)
    assert result.exit_code == 2 and message in result.output
