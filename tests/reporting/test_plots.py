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
        "toy-frontier.pdf", "toy-frontier.png",
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


def test_training_curves_get_one_validation_panel_per_early_stopping_metric_and_whole_epoch_ticks(tmp_path):
    from flexcode_bench.reporting import plots

    for model, criterion in (("flexcode", "recall@10 (validation, beam search)"), ("tiger", "recall@10 (validation, beam search)"),
                             ("sasrec", "ndcg@10 (validation, full ranking)")):  # fmt: skip
        write_fake_run(tmp_path, model=model, values={"recall@10": [0.0, 1.0]},
                       diagnostics={"training_curve": curve(3), "early_stopping_metric": criterion})  # fmt: skip
    report = build_report(tmp_path, metrics=["recall@10"], n_resamples=50)
    figure = plots._training(report.sources["toy"], report.metrics, 50)
    loss_ax, *valid_axes = figure.axes
    assert sorted(ax.get_ylabel() for ax in valid_axes) == ["NDCG@10 on validation", "Recall@10 on validation"]
    assert sorted(len(ax.get_lines()) for ax in valid_axes) == [1, 2]  # sasrec alone; flexcode and tiger together
    figure.canvas.draw()
    for ax in figure.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)


def test_a_bar_of_exactly_zero_is_labelled_so_it_differs_from_a_missing_one(tmp_path):
    from flexcode_bench.reporting import plots

    write_fake_run(tmp_path, model="flexcode", values={"recall@10": [1.0, 0.0, 0.0]}, buckets=["head", "tail", "tail"])
    write_fake_run(tmp_path, model="sasrec", values={"recall@10": [1.0, 1.0, 0.0]}, buckets=["head", "tail", "tail"])
    report = build_report(tmp_path, metrics=["recall@10"], by_popularity=True, n_resamples=50)
    figure = plots._bucket_bars(report.sources["toy"], "recall@10", 50)
    zero_labels = [t for t in figure.axes[0].texts if t.get_text() == "0"]
    assert len(zero_labels) == 1  # flexcode's tail bar; sasrec's tail (0.5) and every head bar are not 0


def test_every_model_of_a_full_grid_gets_its_own_bar_colour(tmp_path):
    from matplotlib.colors import to_rgba

    from flexcode_bench.reporting import plots

    # eleven models: one more than matplotlib's default colour cycle, as in the README's amazon-beauty grid
    models = ["flexcode", *(f"flexcode-fixed-k{k}" for k in range(4)), "flexcode-no-align", "flexcode-popularity-rule",
              "sasrec", "tiger", "tiger-atomic", "tiger-random"]  # fmt: skip
    for model in models:
        write_fake_run(tmp_path, model=model, values={"recall@10": [1.0, 0.0, 0.5]}, buckets=["head", "tail", "tail"])
    report = build_report(tmp_path, metrics=["recall@10"], by_popularity=True, n_resamples=20)
    figure = plots._bucket_bars(report.sources["toy"], "recall@10", 20)
    handles, labels = figure.axes[0].get_legend_handles_labels()
    assert sorted(labels) == sorted(models)
    assert len({to_rgba(handle.patches[0].get_facecolor()) for handle in handles}) == len(models)


def test_the_frontier_counts_each_shared_stage_once_per_model_and_names_the_hardware(tmp_path):
    from flexcode_bench.reporting import plots

    # fake runs train for 1 s; training the CF model took 0.5 s of the run that paid for it
    shared_paid = {"cf_model": {"seconds": 0.5, "computed_in_this_run": True}}
    shared_cached = {"cf_model": {"seconds": 0.5, "computed_in_this_run": False}}
    write_fake_run(tmp_path, model="flexcode", values={"recall@10": [1.0, 0.0]}, diagnostics={"shared_stages": shared_paid})
    write_fake_run(tmp_path, model="flexcode-no-align", values={"recall@10": [0.0, 0.0]}, diagnostics={"shared_stages": shared_cached})
    write_fake_run(tmp_path, model="sasrec", values={"recall@10": [1.0, 1.0]})
    report = build_report(tmp_path, metrics=["recall@10"], n_resamples=50)
    figure = plots._frontier(report.sources["toy"], report.metrics, 50)
    ax = figure.axes[0]
    # the run that paid stays at 1 s (not 1.5: counted once); the run that found it cached also pays 0.5 s
    assert sorted(round(float(c.get_offsets()[0][0]), 3) for c in ax.collections) == [1.0, 1.0, 1.5]
    assert len(ax.get_lines()) == 2  # the two FlexCode runs show their own time → total
    assert "torch thread(s)" in figure.flexbench_note and "cpu" in figure.flexbench_note
