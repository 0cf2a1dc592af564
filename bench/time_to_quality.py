"""Time to quality: validation Recall@10 against minutes of training, read from finished runs.

Each finished run records its training curve (``manifest.json`` → ``diagnostics.training_curve``:
per epoch, its wall seconds — training plus that epoch's validation, if any — and the validation
metric where it was measured). This prints, per run, how many minutes of that wall time passed
before the validation metric first reached ``--threshold`` and where it ended, and draws every run's
curve against cumulative minutes into one figure. The machine's load while a run trained is not in
the manifest: say it beside the figures (a run sharing its core runs slower).

    python bench/time_to_quality.py RUN_DIR [RUN_DIR ...] [--threshold 0.04]
        [--figure bench/figures/amazon-beauty-time-to-quality.png]

RUN_DIR is a finished run folder, e.g. results/amazon-beauty/tiger/seed-0. Prints one JSON line per run.
Every run must have early-stopped on validation Recall@10 (the generative models do; SASRec's curve is
NDCG@10 and is refused, since one threshold cannot mean the same on both).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flexcode_bench.results.load import load_run  # noqa: E402


def curve_in_minutes(training_curve: list[dict]) -> list[tuple[float, float]]:
    """``(cumulative minutes at the end of the epoch, validation metric)`` for each validated epoch."""
    points, minutes = [], 0.0
    for epoch in training_curve:
        minutes += epoch["seconds"] / 60.0
        if epoch.get("valid_metric") is not None:
            points.append((minutes, float(epoch["valid_metric"])))
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished run folders")
    parser.add_argument("--threshold", type=float, default=0.04)
    parser.add_argument("--figure", type=Path, default=None, help="PNG to write (default: none)")
    args = parser.parse_args()

    # every run is checked before anything is printed or drawn
    runs = []
    for path in args.runs:
        record = load_run(path)
        if record.status != "finished":
            raise SystemExit(f"{path}: status {record.status!r}; only finished runs have a whole curve")
        diagnostics = record.manifest.get("diagnostics") or {}
        metric = diagnostics.get("early_stopping_metric") or ""
        if not metric.startswith("recall@10"):
            raise SystemExit(f"{path}: its curve is {metric or 'not recorded'!r}; expected validation recall@10")
        points = curve_in_minutes(diagnostics.get("training_curve") or [])
        if not points:
            raise SystemExit(f"{path}: its manifest records no validated epoch")
        runs.append((path, record, metric, points))

    curves = {}
    for path, record, metric, points in runs:
        backbone = (record.config.get("model_config") or {}).get("backbone")
        label = f"{record.model} (seed {record.seed}, {backbone or 'n/a'})"
        curves[label] = points
        reached = next((m for m, v in points if v >= args.threshold), None)
        print(json.dumps({
            "run": str(path), "model": record.model, "seed": record.seed,
            "backbone": backbone,
            "metric": metric,
            "threshold": args.threshold,
            "minutes_to_threshold": None if reached is None else round(reached, 1),
            "best": max(v for _, v in points),
            "minutes_total": round(points[-1][0], 1),
            "host": record.manifest.get("host"),
        }))  # fmt: skip

    if args.figure is not None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(7.0, 4.4))
        FigureCanvasAgg(figure)
        ax = figure.subplots()
        for i, (label, points) in enumerate(curves.items()):
            # the default colour cycle has 10 colours: past them, a dashed line keeps curves apart
            ax.plot([m for m, _ in points], [v for _, v in points], marker="o", markersize=3, label=label,
                    linestyle=("-", "--", "-.")[i // 10 % 3])  # fmt: skip
        ax.axhline(args.threshold, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("minutes of training (wall, incl. periodic validation)")
        ax.set_ylabel("validation Recall@10 (early-stopping sample)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        figure.tight_layout()
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(args.figure, dpi=150)
        print(f"wrote {args.figure}", file=sys.stderr)


if __name__ == "__main__":
    main()
