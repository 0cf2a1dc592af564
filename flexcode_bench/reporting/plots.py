"""Figures of a report, each written as PNG and PDF, each footnoted with the evaluation protocol.

Per dataset:

- ``<dataset>-buckets-<metric>``: every model's metric overall and per popularity bucket, with 95%
  bootstrap intervals over users (seeds pooled per user);
- ``<dataset>-cf-share``: FlexCode's mean CF share by popularity bucket, from
  ``manifest["diagnostics"]["cf_share_by_bucket"]`` of the runs that record it, except fixed-split
  variants (their share is k/L everywhere by construction; the fixed-k figure covers them);
- ``<dataset>-fixed-k``: the metric against the fixed split ``k`` of the ``flexcode-fixed-k<k>`` runs;
- ``<dataset>-training``: training loss and validation metric per epoch (``diagnostics.training_curve``).

A figure whose inputs are absent is skipped with a note. Matplotlib is imported here only, and used
through its object API with the Agg canvas, so no global backend or pyplot state is touched.
"""

from __future__ import annotations

import io
import re
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from flexcode_bench import console
from flexcode_bench.atomic import write_bytes
from flexcode_bench.evaluation.significance import bootstrap_ci
from flexcode_bench.reporting.aligned import AlignedRuns
from flexcode_bench.reporting.layout import pretty_metric
from flexcode_bench.reporting.report import BUCKET_ORDER, Report

FORMATS = ("png", "pdf")
_FIXED_K = re.compile(r"^flexcode-fixed-k(\d+)$")
_FULL_MODEL = "flexcode"


def write_plots(report: Report, out_dir: str | Path) -> list[Path]:
    """Write every figure the report's runs support into ``out_dir``; return the files written."""
    out_dir = Path(out_dir)
    written: list[Path] = []
    for dataset in report.datasets():
        aligned = report.sources.get(dataset)
        if aligned is None:
            continue
        footnote = f"Protocol: {report.tables[dataset].protocol_summary}."
        for metric in report.metrics:
            figure = _bucket_bars(aligned, metric, report.settings.n_resamples)
            written += _save(figure, footnote, out_dir / f"{_slug(dataset)}-buckets-{_slug(metric)}")
        for name, draw in (("cf-share", _cf_share), ("fixed-k", _fixed_k), ("training", _training)):
            figure = draw(aligned, report.metrics, report.settings.n_resamples)
            if figure is None:
                continue
            written += _save(figure, footnote, out_dir / f"{_slug(dataset)}-{name}")
    return written


# ==== figures ===================================================================================


def _bucket_bars(aligned: AlignedRuns, metric: str, n_resamples: int) -> Any:
    groups: list[str | None] = [None, *(b for b in BUCKET_ORDER if aligned.mask(b).any())]
    models = aligned.models()
    figure, ax = _figure(width=min(13.0, max(7.0, 2.5 + len(groups) * (0.25 * len(models) + 0.4))))
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        means, errors = [], [[], []]
        for group in groups:
            values = aligned.pooled(model, metric, group)
            low, high = bootstrap_ci(values, n_resamples=n_resamples)
            means.append(values.mean())
            errors[0].append(values.mean() - low)
            errors[1].append(high - values.mean())
        positions = np.arange(len(groups)) - 0.4 + width * (i + 0.5)
        ax.bar(positions, means, width, yerr=np.clip(errors, 0, None), capsize=3, label=model, color=_colour(i))
    ax.set_xticks(np.arange(len(groups)))
    ax.set_xticklabels([f"{g or 'overall'}\n(n={int(aligned.mask(g).sum()):,})" for g in groups])
    ax.set_xlabel("target item popularity bucket (training frequency)")
    ax.set_ylabel(f"{pretty_metric(metric)} (mean over users)")
    ax.set_title(f"{aligned.dataset}: {pretty_metric(metric)} by popularity, 95% bootstrap CI over users")
    _legend_outside(ax, title="model")
    return figure


def _cf_share(aligned: AlignedRuns, metrics: tuple[str, ...], n_resamples: int) -> Any:
    shares = {}
    for model, records in aligned.records.items():
        diagnostics = [r.manifest.get("diagnostics") or {} for r in records]
        if any(d.get("router") == "fixed" for d in diagnostics):
            continue
        per_seed = [d.get("cf_share_by_bucket") for d in diagnostics]
        per_seed = [s for s in per_seed if isinstance(s, dict) and s]
        if per_seed:
            keys = _ordered_keys({key for s in per_seed for key in s})
            shares[model] = {key: float(np.mean([s[key] for s in per_seed if key in s])) for key in keys}
    if not shares:
        console.info(f"plots: no learned or rule-based router run of {aligned.dataset} records cf_share_by_bucket; CF-share figure skipped")
        return None
    models = sorted(shares, key=lambda m: (m != _FULL_MODEL, m))
    keys = _ordered_keys({key for s in shares.values() for key in s})
    figure, ax = _figure(width=8.5)
    width = 0.8 / len(models)
    for i, model in enumerate(models):
        positions = np.arange(len(keys)) - 0.4 + width * (i + 0.5)
        bars = ax.bar(positions, [shares[model].get(k, np.nan) for k in keys], width, label=model, color=_colour(i))
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=2)  # a share of 0 is otherwise invisible
    ax.set_xticks(np.arange(len(keys)))
    ax.set_xticklabels(keys)
    ax.set_ylim(0, 1.1)  # room for the labels of bars at 1
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_xlabel("item popularity bucket (training frequency)")
    ax.set_ylabel("mean CF share of the token budget")
    ax.set_title(f"{aligned.dataset}: CF share of item tokens (mean over seeds)")
    _legend_outside(ax, title="model")
    return figure


def _fixed_k(aligned: AlignedRuns, metrics: tuple[str, ...], n_resamples: int) -> Any:
    fixed = sorted((int(m.group(1)), name) for name in aligned.models() if (m := _FIXED_K.match(name)))
    if not fixed:
        console.info(f"plots: no flexcode-fixed-k<k> runs of {aligned.dataset}; fixed-split figure skipped")
        return None
    figure, ax = _figure()
    ks = [k for k, _ in fixed]
    for i, metric in enumerate(metrics):
        means, low, high = [], [], []
        for _, name in fixed:
            values = aligned.pooled(name, metric)
            ci = bootstrap_ci(values, n_resamples=n_resamples)
            means.append(values.mean())
            low.append(values.mean() - ci[0])
            high.append(ci[1] - values.mean())
        ax.errorbar(ks, means, yerr=np.clip([low, high], 0, None), marker="o", capsize=3, color=_colour(i),
                    label=f"{pretty_metric(metric)}, fixed k")  # fmt: skip
        if _FULL_MODEL in aligned.scores:
            ax.axhline(aligned.pooled(_FULL_MODEL, metric).mean(), linestyle="--", color=_colour(i),
                       label=f"{pretty_metric(metric)}, learned router")  # fmt: skip
    ax.set_xticks(ks)
    ax.set_xlabel("CF tokens per item, k (0 = semantic only, L = CF only)")
    ax.set_ylabel("metric (mean over users, 95% bootstrap CI)")
    ax.set_title(f"{aligned.dataset}: fixed semantic/CF split for all items")
    _legend_outside(ax)
    return figure


def _training(aligned: AlignedRuns, metrics: tuple[str, ...], n_resamples: int) -> Any:
    curves = {}
    for model, records in aligned.records.items():
        runs = [((r.manifest.get("diagnostics") or {}).get("training_curve") or [], r.seed) for r in records]
        runs = [(curve, seed) for curve, seed in runs if curve]
        if runs:
            curves[model] = runs
    if not curves:
        console.info(f"plots: no run of {aligned.dataset} records a training curve; training figure skipped")
        return None
    figure, (loss_ax, valid_ax) = _figure(ncols=2, width=12)
    for i, (model, runs) in enumerate(sorted(curves.items())):
        for j, (curve, seed) in enumerate(runs):
            label = model if j == 0 else None  # one legend entry per model; each seed is one line
            epochs = [e["epoch"] for e in curve]
            loss_ax.plot(epochs, [e.get("train_loss") for e in curve], color=_colour(i), alpha=0.8, label=label)
            valid = [(e["epoch"], e["valid_metric"]) for e in curve if e.get("valid_metric") is not None]
            if valid:
                valid_ax.plot(*zip(*valid), marker=".", color=_colour(i), alpha=0.8, label=label)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("training loss")
    loss_ax.set_title("training loss")
    valid_ax.set_xlabel("epoch")
    valid_ax.set_ylabel("validation metric (early-stopping criterion)")
    valid_ax.set_title("validation metric")
    _legend_outside(valid_ax, title="model (a line per seed)")
    figure.suptitle(f"{aligned.dataset}: training curves")
    return figure


# ==== helpers ===================================================================================


def _figure(*, ncols: int = 1, width: float = 7.0) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, 4.6))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, ncols)
    return figure, axes


def _save(figure: Any, footnote: str, stem: Path) -> list[Path]:
    lines = textwrap.wrap(footnote, width=int(figure.get_figwidth() * 17))
    figure.text(0.01, 0.01, "\n".join(lines), fontsize=7, color="0.3", va="bottom")
    figure.tight_layout(rect=(0, 0.035 * (len(lines) + 1), 1, 1))
    written = []
    for fmt in FORMATS:
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, dpi=150)
        path = stem.parent / f"{stem.name}.{fmt}"
        write_bytes(path, buffer.getvalue())  # atomic: a reader never sees half a figure
        written.append(path)
    return written


def _legend_outside(ax: Any, title: str | None = None) -> None:
    # Bars reach every height, so a legend inside the axes always hides some of them.
    ax.legend(title=title, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def _ordered_keys(keys: set[str]) -> list[str]:
    known = [b for b in BUCKET_ORDER if b in keys]
    rest = sorted(keys - set(known), key=lambda k: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(k))])
    return known + rest


def _colour(i: int) -> str:
    return f"C{i % 10}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", name.replace("@", "_at_")).strip("_")
