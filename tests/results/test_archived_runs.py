"""The run records kept in the repository (bench/runs/) are whole, comparable and what the README quotes.

Every session's machine starts empty, so a finished Amazon run survives only as its four record files
committed under ``bench/runs/<set>/`` (a results folder each). These tests hold those records to the
protocol (finished, readable, identical users across the runs of a dataset) and the README's tables
of them to the report that ``flexbench report`` prints from them, so a quoted number cannot drift
from its per-user records.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from flexcode_bench.config import ProtocolConfig
from flexcode_bench.models import model_spec
from flexcode_bench.reporting.aligned import align_runs
from flexcode_bench.reporting.render import render
from flexcode_bench.reporting.report import build_report
from flexcode_bench.results import load_runs
from flexcode_bench.results.layout import CONFIG, MANIFEST, METRICS, PER_USER, SPLITS

REPO = Path(__file__).resolve().parents[2]
ARCHIVE = REPO / "bench" / "runs"
RUN_SETS = sorted(p for p in ARCHIVE.iterdir() if p.is_dir()) if ARCHIVE.is_dir() else []
# the sets that the README presents as "the default `cpu` profile": each run trained what that profile trains today
DEFAULT_PROFILE_SETS = ["beauty-cpu-rq1000"]
# <!-- archived-report: SET DATASET --> … <!-- /archived-report -->: the report's markdown table and caption in between
README_BLOCK = re.compile(r"<!-- archived-report: (\S+) (\S+) -->\n(.*?)\n<!-- /archived-report -->", re.S)
# <!-- early-stopping-samples: RUN RUN … --> … <!-- /early-stopping-samples -->: bench/early_stopping_samples.py's table
SAMPLES_BLOCK = re.compile(r"<!-- early-stopping-samples: ([^>]+?) -->\n(.*?)\n\s*<!-- /early-stopping-samples -->", re.S)


def test_the_archive_holds_run_sets() -> None:
    assert RUN_SETS, f"{ARCHIVE} has no run set"


@pytest.mark.parametrize("run_set", RUN_SETS, ids=lambda p: p.name)
def test_every_archived_run_is_finished_whole_and_without_checkpoints(run_set: Path) -> None:
    broken: list = []
    runs = load_runs(run_set, include_failed=True, broken=broken)

    assert broken == []
    assert runs, f"{run_set} holds no run"
    for run in runs:
        assert run.manifest["status"] == "finished", run.path
        assert sorted(p.name for p in run.path.iterdir()) == sorted([CONFIG, MANIFEST, METRICS, PER_USER]), run.path


@pytest.mark.parametrize("run_set", DEFAULT_PROFILE_SETS)
def test_a_default_profile_set_holds_what_the_default_profile_trains_today(run_set: str) -> None:
    # TIGER's three seeds there ran as a screen, with YAML overrides that the profile then adopted: their config
    # hash records those overrides, so the guard is on the options the model trained with, not on the hash.
    runs = load_runs(ARCHIVE / run_set)

    assert runs, f"bench/runs/{run_set} holds no run"
    for run in runs:
        protocol = ProtocolConfig(**run.config["protocol"])
        today = dataclasses.asdict(model_spec(run.model).resolve("cpu", {}, protocol))
        assert run.config["profile"] == "cpu", run.path
        assert run.config["model_config"] == today, run.path


def test_all_archived_runs_of_a_dataset_score_identical_users_and_targets() -> None:
    runs = [run for run_set in RUN_SETS for run in load_runs(run_set)]  # across sets too: their tables are read side by side
    for dataset in sorted({run.dataset for run in runs}):
        group = [run for run in runs if run.dataset == dataset]
        for split in SPLITS:
            # the report's own check: raises, naming both runs, on a differing protocol, user or target
            aligned = align_runs(group, split=split, metrics=["recall@10"])
            assert aligned.n_users == group[0].metrics[split]["n_users"] > 0


def test_every_readme_table_of_archived_runs_is_what_the_report_prints() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = README_BLOCK.findall(readme)

    assert blocks, "the README quotes no archived run set"
    for run_set, dataset, quoted in blocks:
        report = build_report(ARCHIVE / run_set, datasets=[dataset], ks=[10], by_popularity=True, n_resamples=1000)
        printed = render(report, "md").strip()
        printed = re.sub(r"^### .*\n+", "", printed)  # the README's own heading stands in for the report's
        assert quoted.strip() == printed, f"README table of bench/runs/{run_set} {dataset}"


def test_the_readme_table_of_early_stopping_samples_is_what_the_bench_script_prints() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("early_stopping_samples", REPO / "bench" / "early_stopping_samples.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    blocks = SAMPLES_BLOCK.findall((REPO / "README.md").read_text(encoding="utf-8"))

    assert blocks, "the README quotes no early-stopping sample table"
    for runs, quoted in blocks:
        scores = script.sample_scores([ARCHIVE / run for run in runs.split()], seeds=[0, 1, 2], valid_users=2000)
        quoted_lines = [line.strip() for line in quoted.strip().splitlines()]
        assert quoted_lines == script.markdown_table(scores).splitlines()
