"""Figures of a report, each written as PNG and PDF, each footnoted with the evaluation protocol.

Per dataset:

- ``<dataset>-buckets-<metric>``: every model's metric overall and per popularity bucket, with 95%
  bootstrap intervals over users (seeds pooled per user);
- ``<dataset>-cf-share``: FlexCode's mean CF share by popularity bucket, from
  ``manifest["diagnostics"]["cf_share_by_bucket"]`` of the runs that record it, except fixed-split
  variants (their share is k/L everywhere by construction; the fixed-k figure covers them);
- ``<dataset>-fixed-k``: the metric against the fixed split ``k`` of the ``flexcode-fixed-k<k>`` runs;
- ``<dataset>-training``: training loss per epoch, and the validation metric in one panel per
  early-stopping metric (``diagnostics.training_curve``, ``diagnostics.early_stopping_metric``);
- ``<dataset>-frontier``: every run's test Recall@10 against its training wall time (one marker per
  model and seed), shared stages counted once per model, with the device, CPU and threads noted.

A figure whose inputs are absent is skipped with a note. Matplotlib is imported here only, and used
through its object API with the Agg canvas, so no global backend or pyplot state is touched.
"""

from __future__ import annotations

import io
import re
import textwrap
from pathlib import Path
from collections.abc import Iterator
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
_UNRECORDED = "not recorded"


def write_plots(report: Report, out_dir: str | Path) -> list[Path]:
    """Write every figure the report's runs support into ``out_dir``; return the files written."""
    out_dir = Path(out_dir)
    written: list[Path] = []
    for name, figure, footnote in figures(report):
        written += _save(figure, footnote, out_dir / name)
    return written


def figures(report: Report) -> Iterator[tuple[str, Any, str]]:
    """``(file stem, matplotlib figure, footnote)`` of every figure the report's runs support."""
    for dataset in report.datasets():
        aligned = report.sources.get(dataset)
        if aligned is None:
            continue
        footnote = f"Protocol: {report.tables[dataset].protocol_summary}."
        for metric in report.metrics:
            yield f"{_slug(dataset)}-buckets-{_slug(metric)}", _bucket_bars(aligned, metric, report.settings.n_resamples), footnote
        for name, draw in (("cf-share", _cf_share), ("fixed-k", _fixed_k), ("training", _training), ("frontier", _frontier)):
            figure = draw(aligned, report.metrics, report.settings.n_resamples)
            if figure is not None:
                note = footnote + (f" {figure.flexbench_note}" if getattr(figure, "flexbench_note", None) else "")
                yield f"{_slug(dataset)}-{name}", figure, note


def png_bytes(figure: Any, footnote: str, dpi: int = 110) -> bytes:
    """The figure, footnoted, as PNG bytes (for pages that embed figures rather than link them)."""
    _footnote(figure, footnote)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


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
        for x, mean in zip(positions, means):
            if mean == 0:  # a bar of height 0 is invisible: say "0", so it differs from a missing bar
                ax.annotate("0", (x, 0), xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", fontsize=7)
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
    """Training loss, and validation curves in one panel per early-stopping metric (one metric per axis)."""
    from matplotlib.ticker import MaxNLocator

    curves: dict[str, list] = {}
    criteria: dict[str, str] = {}
    for model, records in aligned.records.items():
        runs = []
        for r in records:
            diagnostics = r.manifest.get("diagnostics") or {}
            if diagnostics.get("training_curve"):
                runs.append((diagnostics["training_curve"], r.seed))
                criteria.setdefault(model, diagnostics.get("early_stopping_metric") or _UNRECORDED)
        if runs:
            curves[model] = runs
    if not curves:
        console.info(f"plots: no run of {aligned.dataset} records a training curve; training figure skipped")
        return None
    panels = sorted(set(criteria.values()))
    figure, axes = _figure(ncols=1 + len(panels), width=5.0 + 4.2 * len(panels))
    loss_ax, valid_axes = axes[0], dict(zip(panels, axes[1:]))
    colours = {model: _colour(i) for i, model in enumerate(sorted(curves))}
    for model, runs in sorted(curves.items()):
        for j, (curve, seed) in enumerate(runs):
            label = model if j == 0 else None  # one legend entry per model; each seed is one line
            epochs = [e["epoch"] for e in curve]
            loss_ax.plot(epochs, [e.get("train_loss") for e in curve], color=colours[model], alpha=0.8, label=label)
            valid = [(e["epoch"], e["valid_metric"]) for e in curve if e.get("valid_metric") is not None]
            if valid:
                valid_axes[criteria[model]].plot(*zip(*valid), marker=".", color=colours[model], alpha=0.8, label=label)
    loss_ax.set_ylabel("training loss")
    loss_ax.set_title("training loss (each model its own loss)")
    for criterion, ax in valid_axes.items():
        name, _, detail = criterion.partition(" (")
        if criterion == _UNRECORDED:  # runs made before the metric's name was recorded: say so, guess nothing
            ax.set_ylabel("validation metric (name not recorded)")
            ax.set_title("early stopping on a metric the runs did not record", fontsize=9)
        else:
            ax.set_ylabel(f"{pretty_metric(name)} on validation")
            ax.set_title(f"early stopping on {pretty_metric(name)}" + (f" ({detail}" if detail else ""), fontsize=9)
        ax.legend(title="model (a line per seed)", fontsize=7)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no 1.25 or 1.5 ticks
    loss_ax.legend(fontsize=7)
    figure.suptitle(f"{aligned.dataset}: training curves")
    return figure


def _frontier(aligned: AlignedRuns, metrics: tuple[str, ...], n_resamples: int) -> Any:
    """Test Recall@10 against training wall time: one marker per model and seed.

    A run's time is its own training (``timings.train``) with each shared stage it used — item-text
    embeddings, FlexCode's CF model and two codebooks — counted once at what filling its cache took,
    whichever run paid for it; such runs get a line from their own time to the total. TIGER's codebook
    is fitted inside each run and already in its own time.
    """
    from matplotlib.lines import Line2D

    points = []
    for model, records in sorted(aligned.records.items()):
        for r in records:
            test = (r.metrics.get("test") or {}).get("overall", {})
            train = (r.manifest.get("timings") or {}).get("train")
            if test.get("recall@10") is None or train is None:
                continue
            shared = (r.manifest.get("diagnostics") or {}).get("shared_stages") or {}
            paid_here = sum(s["seconds"] or 0.0 for s in shared.values() if s.get("computed_in_this_run"))
            own = max(train - paid_here, 0.0)
            total = own + sum(s["seconds"] or 0.0 for s in shared.values())
            points.append((model, r.seed, own, total, test["recall@10"], sorted(shared), r.manifest))
    if not points:
        console.info(f"plots: no run of {aligned.dataset} records test Recall@10 and a training time; frontier skipped")
        return None
    figure, ax = _figure(width=9.0)
    markers = "osD^vP*Xhp"
    models = sorted({p[0] for p in points})
    for i, model in enumerate(models):
        for _, seed, own, total, recall, stages, _ in (p for p in points if p[0] == model):
            if stages:
                ax.plot([own, total], [recall, recall], color=_colour(i), alpha=0.5, linewidth=1.5)
            ax.scatter([total], [recall], color=_colour(i), marker=markers[seed % len(markers)], s=40, zorder=3,
                       edgecolors="black" if stages else "none", linewidths=0.8)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("training wall time, s (log scale; shared stages counted once per model)")
    ax.set_ylabel("Recall@10 (test, mean over users)")
    ax.set_title(f"{aligned.dataset}: accuracy against training cost")
    handles = [Line2D([], [], color=_colour(i), marker="o", linestyle="", label=m) for i, m in enumerate(models)]
    seeds = sorted({p[1] for p in points})
    handles += [Line2D([], [], color="0.3", marker=markers[s % len(markers)], linestyle="", label=f"seed {s}") for s in seeds]
    handles.append(Line2D([], [], color="0.3", marker="o", markeredgecolor="black", linewidth=1.5, alpha=0.6,
                          label="incl. shared stages\n(line: own time → total)"))  # fmt: skip
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    figure.flexbench_note = "Cost: " + _hosts([p[6] for p in points]) + "."
    return figure


def _hosts(manifests: list[dict]) -> str:
    """Where the times were measured: devices, CPU models and threads, each listed once."""
    seen = []
    for m in manifests:
        host = m.get("host") or {}
        threads = host.get("torch_threads")
        text = (f"{m.get('device', 'device not recorded')}, {host.get('cpu_model') or 'CPU model not recorded'}, "
                f"{threads if threads is not None else 'not recorded'} torch thread(s) of {host.get('cpu_count') or '?'} cores")  # fmt: skip
        if text not in seen:
            seen.append(text)
    return "; ".join(seen)


# ==== helpers ===================================================================================


def _figure(*, ncols: int = 1, width: float = 7.0) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, 4.6))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, ncols)
    return figure, axes


def _footnote(figure: Any, footnote: str) -> None:
    if getattr(figure, "flexbench_footnoted", False):
        return
    lines = textwrap.wrap(footnote, width=int(figure.get_figwidth() * 17))
    figure.text(0.01, 0.01, "\n".join(lines), fontsize=7, color="0.3", va="bottom")
    figure.tight_layout(rect=(0, 0.035 * (len(lines) + 1), 1, 1))
    figure.flexbench_footnoted = True


def _save(figure: Any, footnote: str, stem: Path) -> list[Path]:
    _footnote(figure, footnote)
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


# Past matplotlib's ten default colours, ten more that differ from all of them: a full FlexCode grid
# has eleven models, and two bars of one colour in a legend would read as one model.
_MORE_COLOURS = ("black", "gold", "navy", "lime", "maroon", "teal", "orchid", "sienna", "slateblue", "darkkhaki")


def _colour(i: int) -> str:
    i %= 10 + len(_MORE_COLOURS)
    return f"C{i}" if i < 10 else _MORE_COLOURS[i - 10]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "_", name.replace("@", "_at_")).strip("_")
