"""Specification of the renderers: what a reader of each format must find in it."""

from __future__ import annotations

import io
import json
import re

import pandas as pd
import pytest

from flexcode_bench.errors import ConfigError
from flexcode_bench.reporting.layout import caption
from flexcode_bench.reporting.render import render
from flexcode_bench.reporting.report import build_report
from tests.reporting.fake_runs import write_fake_run


def marked_cells(report) -> set[tuple[str, str | None, str]]:
    return {
        (row.model, bucket, metric)
        for row in report.rows
        for bucket, metric in report.columns("toy")
        if report.significant("toy", row.model, metric, bucket)
    }


def row_line(text: str, model: str) -> str:
    """The model's row; a LaTeX table split over several (between column groups) gives its pieces in order."""
    lines = [line for line in text.splitlines() if re.match(rf"^\|? ?{re.escape(model)} (&|\|)", line)]
    assert lines, f"no row for {model}"
    return lines[0] + "".join(" & " + line.split(" & ", 1)[1] for line in lines[1:])


def test_latex_is_booktabs_with_bold_best_daggers_caption_and_label(toy_report):
    latex = render(toy_report, "latex")
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\cmidrule(lr){2-3}"):
        assert rule in latex
    assert r"\caption{toy, test split" in latex and "paired t-test" in latex and "Holm correction" in latex
    assert r"family of 12 comparisons" in latex and r"$\alpha$ = 0.05" in latex
    assert r"\label{tab:flexbench-toy-test}" in latex
    best = toy_report.rows[[r.model for r in toy_report.rows].index("tiger")].overall["ndcg@10"].mean
    assert rf"\textbf{{{best:.4f}}}" in row_line(latex, "tiger")
    # one dagger per significant cell, and sasrec's NDCG loss is one of them
    assert latex.count(r"$^{\dagger}$") - latex.split(r"\label")[0].count(r"$^{\dagger}$") == len(marked_cells(toy_report))
    assert ("sasrec", None, "ndcg@10") in marked_cells(toy_report)
    sasrec = row_line(latex, "sasrec").split(" & ")
    assert sasrec[2].count(r"$^{\dagger}$") == 1  # overall NDCG@10 column
    assert r"Head (n=20)" in latex and "NDCG@10" in latex


def test_latex_escapes_underscores_and_percent_signs(tmp_path):
    write_fake_run(tmp_path, dataset="ml_100%", model="flexcode", values={"ndcg@10": [0.3, 0.2]})
    write_fake_run(tmp_path, dataset="ml_100%", model="no_align", values={"ndcg@10": [0.1, 0.2]})
    latex = render(build_report(tmp_path, metrics=["ndcg@10"]), "latex")
    assert r"no\_align &" in latex and r"ml\_100\%" in latex
    assert "no_align" not in latex.replace(r"no\_align", "")
    assert r"\label{tab:flexbench-ml-100-test}" in latex


def test_csv_has_one_row_per_model_metric_and_bucket_with_the_comparison(toy_report):
    frame = pd.read_csv(io.StringIO(render(toy_report, "csv")))
    assert len(frame) == 3 * 2 * 3  # models × metrics × (overall, head, tail)
    assert list(frame.columns[:9]) == ["dataset", "split", "model", "metric", "bucket", "mean", "std", "n_seeds", "baseline"]
    row = frame[(frame.model == "sasrec") & (frame.metric == "ndcg@10") & (frame.bucket == "overall")].iloc[0]
    (c,) = toy_report.comparisons_for("toy", "sasrec", "ndcg@10")
    assert row["p"] == pytest.approx(c.p_value) and row["p_adj"] == pytest.approx(c.p_adjusted)
    assert bool(row["significant"]) and row["wins"] + row["ties"] + row["losses"] == 40
    assert row["mean"] == pytest.approx(toy_report.rows[1].overall["ndcg@10"].mean) and row["n_seeds"] == 2
    baseline_rows = frame[frame.model == "flexcode"]
    assert baseline_rows["p"].isna().all() and (baseline_rows["baseline"] == "flexcode").all()


def test_markdown_marks_significant_cells_and_bolds_the_best(toy_report):
    markdown = render(toy_report, "md")
    assert markdown.startswith("### toy (test)")
    sasrec_ndcg = row_line(markdown, "sasrec").split(" | ")[3]
    assert re.fullmatch(r"\d\.\d{4}† ± \d\.\d{4}", sasrec_ndcg)  # the mark sits on the mean, before the std
    assert "**" in row_line(markdown, "tiger") and "†" not in row_line(markdown, "flexcode")
    assert markdown.count("†") - markdown.split("\n\n*")[-1].count("†") == len(marked_cells(toy_report))


def test_json_holds_settings_tables_rows_and_every_comparison(toy_report):
    data = json.loads(render(toy_report, "json"))
    assert data["settings"] == {"baseline": "flexcode", "test": "ttest", "correction": "holm", "alpha": 0.05,
                                "seeds": "pool", "allow_mixed": False, "n_resamples": 10_000}  # fmt: skip
    assert data["tables"]["toy"]["family_size"] == 12 == len(data["comparisons"])
    assert data["tables"]["toy"]["protocol"]["tie_policy"] == "pessimistic"
    first = data["comparisons"][0]
    assert {"dataset", "model", "baseline", "metric", "bucket", "p_value", "p_adjusted", "significant", "ci_low",
            "effect_size", "wins", "seed"} <= set(first)  # fmt: skip


def test_json_writes_undefined_relative_differences_as_null(tmp_path):
    write_fake_run(tmp_path, model="flexcode", values={"ndcg@10": [0.0, 0.0, 0.0]})
    write_fake_run(tmp_path, model="sasrec", values={"ndcg@10": [0.1, 0.2, 0.0]})
    (comparison,) = json.loads(render(build_report(tmp_path, metrics=["ndcg@10"]), "json"))["comparisons"]
    assert comparison["rel_diff"] is None and comparison["abs_diff"] == pytest.approx(0.1)


def test_terminal_table_caption_names_test_correction_alpha_family_seeds_and_protocol(toy_report):
    text = render(toy_report, "table")
    for phrase in ("paired t-test", "Holm correction", "α = 0.05", "family of 12 comparisons", "seeds pooled",
                   "leave-one-out", "ties pessimistic", "history not masked", "40 test users", "head (n=20)"):  # fmt: skip
        assert phrase in text
    assert "†" in text.split("┘")[0]


def test_caption_says_when_seeds_are_compared_one_by_one(toy):
    report = build_report(toy[0], metrics=["ndcg@10"], seeds="per-seed", correction="bh")
    text = render(report, "md")
    assert "seed s vs seed s" in text and "Benjamini-Hochberg" in text and "family of 4 comparisons" in text


def test_unknown_format_is_refused(toy_report):
    with pytest.raises(ConfigError, match="did you mean 'latex'"):
        render(toy_report, "latx")


def test_the_caption_says_how_many_seeds_and_names_the_models_off_the_commonest_count(tmp_path):
    write_fake_run(tmp_path, model="flexcode", seed=0, values={"ndcg@10": [0.5, 0.4]})
    write_fake_run(tmp_path, model="tiger", seed=0, values={"ndcg@10": [0.3, 0.4]})
    assert "one seed per model (no std)" in caption(build_report(tmp_path, metrics=["ndcg@10"]), "toy")
    write_fake_run(tmp_path, model="flexcode", seed=1, values={"ndcg@10": [0.6, 0.4]})
    write_fake_run(tmp_path, model="sasrec", seed=0, values={"ndcg@10": [0.2, 0.1]})
    assert "(2 for flexcode; 1 for the rest; no std from one seed)" in caption(build_report(tmp_path, metrics=["ndcg@10"]), "toy")
