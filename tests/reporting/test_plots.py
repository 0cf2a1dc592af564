"""Specification of the figures: PNG and PDF per figure, skipped (not faked) when inputs are absent."""

from __future__ import annotations

import numpy as np

from flexcode_bench.reporting.plots import write_plots
from flexcode_bench.reporting.report import build_report
from tests.reporting.fake_runs import write_fake_run


def curve(n_epochs: int) -> list[dict]:
    return [{"epoch": e, "train_loss": 2.0 / e, "valid_metric": 0.1 + 0.01 * e, "seconds": 1.0, "extra": {}} for e in range(1, n_epochs + 1)]


def test_bucket_bars_are_written_as_png_and_pdf_and_missing_diagnostics_are_skipped(toy_report, tmp_path, capsys):
    files = write_plots(toy_report, tmp_path / "figures")
    assert sorted(f.name for f in files) == [
        "toy-buckets-ndcg_at_10.pdf", "toy-buckets-ndcg_at_10.png", "toy-buckets-recall_at_10.pdf", "toy-buckets-recall_at_10.png",
    ]  # fmt: skip
    for file in files:
        assert file.stat().st_size > 1000
        assert file.read_bytes()[:4] == (b"\x89PNG" if file.suffix == ".png" else b"%PDF")
    skipped = capsys.readouterr().err
    assert "cf_share_by_bucket" in skipped and "flexcode-fixed-k" in skipped and "training curve" in skipped


def test_cf_share_fixed_split_and_training_figures_come_from_the_diagnostics(tmp_path):
    buckets = ["head", "head", "torso", "tail", "tail", "cold"]
    share = {"cf_share_by_bucket": {"head": 0.8, "torso": 0.5, "tail": 0.2, "cold": 0.0}}
    for model, diagnostics in [("flexcode", share), ("flexcode-popularity-rule", share), ("flexcode-fixed-k0", {}),
                               ("flexcode-fixed-k2", {}), ("sasrec", {})]:  # fmt: skip
        values = {"ndcg@10": np.linspace(0.1, 0.6, 6)}
        write_fake_run(tmp_path / "results", model=model, values=values, buckets=buckets,
                       diagnostics={**diagnostics, "training_curve": curve(4)})  # fmt: skip
    report = build_report(tmp_path / "results", metrics=["ndcg@10"], by_popularity=True, n_resamples=200)
    files = write_plots(report, tmp_path / "figures")
    stems = sorted({f.stem for f in files})
    assert stems == ["toy-buckets-ndcg_at_10", "toy-cf-share", "toy-fixed-k", "toy-training"]
    assert len(files) == 8 and all(f.stat().st_size > 1000 for f in files)


def test_fixed_split_variants_are_left_out_of_the_cf_share_figure(tmp_path):
    # Their share is k/L in every bucket by construction: nothing learned to show.
    fixed = {"router": "fixed", "cf_share_by_bucket": {"head": 1 / 3, "tail": 1 / 3}}
    for model in ("flexcode-fixed-k1", "flexcode-no-moe"):
        write_fake_run(tmp_path / "results", model=model, values={"ndcg@10": [0.1, 0.2]}, buckets=["head", "tail"], diagnostics=fixed)
    report = build_report(tmp_path / "results", metrics=["ndcg@10"], by_popularity=True, n_resamples=50)
    assert not any(f.stem == "toy-cf-share" for f in write_plots(report, tmp_path / "figures"))
