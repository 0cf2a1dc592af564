"""Every LaTeX table compiles with pdflatex and fits \\textwidth, in one- and two-column articles,
with readable fonts: too many columns split the table between column groups instead of shrinking it."""

import shutil
import subprocess

import numpy as np
import pytest

from flexcode_bench.reporting.render import render
from flexcode_bench.reporting.report import build_report
from tests.reporting.fake_runs import write_fake_run

MODELS = ["flexcode", "flexcode-fixed-k0", "flexcode-fixed-k3", "flexcode-no-align", "flexcode-popularity-rule",
          "sasrec", "tiger", "recbole:GRU4Rec"]  # fmt: skip
METRICS = ("recall@5", "recall@10", "ndcg@5", "ndcg@10")
BUCKETS = ["head"] * 10 + ["torso"] * 10 + ["tail"] * 10 + ["cold"] * 6


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """Three datasets × eight models × two seeds × four buckets: the widest tables a grid makes."""
    results = tmp_path_factory.mktemp("wide")
    rng = np.random.default_rng(0)
    for dataset in ("amazon-sports", "amazon-beauty", "amazon-toys"):
        for i, model in enumerate(MODELS):
            for seed in (0, 1):
                values = {m: np.clip(rng.uniform(0, 0.3, len(BUCKETS)) + 0.02 * i, 0, 1) for m in METRICS}
                write_fake_run(results, dataset=dataset, model=model, seed=seed, values=values, buckets=BUCKETS)
    return results


def compile_latex(tmp_path, body: str, documentclass: str) -> str:
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is absent (Debian: apt-get install texlive-latex-recommended)")
    source = tmp_path / "table.tex"
    source.write_text(f"{documentclass}\n\\usepackage[T1]{{fontenc}}\n\\usepackage{{booktabs}}\n"
                      f"\\begin{{document}}\n{body}\n\\end{{document}}\n", encoding="utf-8")  # fmt: skip
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", source.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    log = (tmp_path / "table.log").read_text(encoding="utf-8", errors="replace")
    assert done.returncode == 0, log[-3000:]
    return log


@pytest.mark.parametrize("documentclass", [r"\documentclass{article}", r"\documentclass[twocolumn]{article}"])
@pytest.mark.parametrize("kind", ["per-dataset by popularity", "per-dataset", "paper"])
def test_every_latex_table_compiles_and_fits_the_text_width(grid, tmp_path, documentclass, kind):
    report = build_report(grid, metrics=list(METRICS), by_popularity=kind == "per-dataset by popularity", n_resamples=200)
    latex = render(report, "latex", "paper" if kind == "paper" else "dataset")
    log = compile_latex(tmp_path, latex, documentclass)
    assert "Overfull \\hbox" not in log
    assert "\\resizebox" not in latex and "\\tiny" not in latex  # never shrunk below \scriptsize
    assert "\\begin{table*}" in latex  # spans both columns in a two-column document


def test_a_table_too_wide_for_one_page_width_is_split_between_its_column_groups(grid):
    report = build_report(grid, metrics=list(METRICS), by_popularity=True, datasets=["amazon-toys"], n_resamples=200)
    latex = render(report, "latex")
    assert latex.count("\\begin{table*}") >= 2 and "(continued)" in latex
    assert latex.count("\\midrule") == latex.count("\\begin{table*}")
