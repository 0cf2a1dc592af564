"""`report --layout paper`: models as rows, one column group per dataset, Δ over the strongest baseline."""

import numpy as np
import pytest
from typer.testing import CliRunner

from flexcode_bench.cli import app
from flexcode_bench.reporting.paper import paper_table
from flexcode_bench.reporting.render import render
from flexcode_bench.reporting.report import build_report
from tests.reporting.fake_runs import write_fake_run

N = 60


@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory):
    """sports: flexcode clearly above sasrec (the strongest baseline) above tiger; beauty: 2 seeds for
    flexcode, 1 for the rest."""
    results = tmp_path_factory.mktemp("paper")
    rng = np.random.default_rng(3)
    level = {"flexcode": 0.5, "sasrec": 0.3, "tiger": 0.2}
    for dataset, seeds in (("sports", {"flexcode": 1, "sasrec": 1, "tiger": 1}), ("beauty", {"flexcode": 2, "sasrec": 1, "tiger": 1})):
        for model, n_seeds in seeds.items():
            for seed in range(n_seeds):
                ndcg = np.clip(level[model] + rng.normal(0, 0.05, N), 0, 1)
                values = {"recall@5": ndcg, "recall@10": ndcg, "ndcg@5": ndcg * 0.8, "ndcg@10": ndcg}
                write_fake_run(results, dataset=dataset, model=model, seed=seed, values=values)
    return results


def test_the_strongest_baseline_is_the_best_model_outside_flexcode_and_each_row_gets_its_improvement(two_datasets):
    report = build_report(two_datasets, n_resamples=100)
    table = paper_table(report)
    assert table.datasets == ["beauty", "sports"] and table.models[0] == "flexcode"
    assert table.metrics == ["recall@5", "ndcg@5", "recall@10", "ndcg@10"] and table.primary == "ndcg@10"
    assert table.strongest == {"beauty": "sasrec", "sports": "sasrec"}
    gain = table.improvements[("sports", "flexcode")]
    assert gain.relative == pytest.approx(0.5 / 0.3 - 1, abs=0.08) and gain.significant
    assert ("sports", "sasrec") not in table.improvements  # no Δ against itself
    assert table.improvements[("sports", "tiger")].relative < 0


def test_markdown_paper_layout_has_a_column_group_per_dataset_and_a_caption_with_users_and_seeds(two_datasets):
    text = render(build_report(two_datasets, n_resamples=100), "md", "paper")
    header = text.splitlines()[2]
    assert "beauty R@5" in header and "sports N@10" in header and "sports Δ" in header
    flexcode = next(line for line in text.splitlines() if line.startswith("| flexcode |"))
    assert "**" in flexcode and "%‡" in flexcode
    assert f"beauty: {N} test users, mean ± std over seeds (2 for flexcode" in text
    assert "Seed counts differ within beauty" in text and "strongest baseline outside FlexCode (beauty: sasrec; sports: sasrec)" in text


def test_latex_paper_layout_groups_columns_by_dataset(two_datasets):
    latex = render(build_report(two_datasets, n_resamples=100), "latex", "paper")
    assert r"\multicolumn{5}{c}{beauty}" in latex and r"\multicolumn{5}{c}{sports}" in latex
    assert r"R@5 & N@5 & R@10 & N@10 & $\Delta$" in latex and r"$^{\ddagger}$" in latex


def test_paper_layout_refuses_bucket_columns_and_formats_it_has_no_rendering_for(two_datasets):
    for extra in (["--by-popularity"], ["--format", "csv"]):
        result = CliRunner().invoke(app, ["report", "--results-dir", str(two_datasets), "--layout", "paper", *extra])
        assert result.exit_code == 2 and "--layout paper" in result.output
