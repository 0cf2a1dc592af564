"""Time to quality: validation Recall@10 against minutes of training, read from finished or unfinished runs.

Each finished run records its training curve (``manifest.json`` → ``diagnostics.training_curve``:
per epoch, its wall seconds — training plus that epoch's validation, if any — and the validation
metric where it was measured). This prints, per run, how many minutes of that wall time passed
before the validation metric first reached ``--threshold`` and where it ended, and draws every run's
curve against cumulative minutes into one figure. The machine's load while a run trained is not in
the manifest: say it beside the figures (a run sharing its core runs slower).

    python bench/time_to_quality.py RUN_DIR [RUN_DIR ...] [--threshold 0.04]
        [--figure bench/figures/amazon-beauty-time-to-quality.png]

RUN_DIR is a finished run folder, e.g. results/amazon-beauty/tiger/seed-0, or an unfinished run's
``seed-<n>.partial`` folder: a run too slow to finish here (TIGER's per-window backbone: 40 epochs take
hours) can be stopped once it is past the threshold, and its curve so far is read from its last
checkpoint and its recorded config. Its learning-rate schedule is the finished run's, so the minutes to
the threshold are what the whole run would have taken; its best is only the best so far, and the
output says ``"finished": false``. Prints one JSON line per run. Every run must early-stop on
validation Recall@10 (the generative models do; SASRec's curve is NDCG@10 and is refused, since one
threshold cannot mean the same on both).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flexcode_bench.errors import DataFormatError  # noqa: E402
from flexcode_bench.results.layout import CONFIG  # noqa: E402
from flexcode_bench.results.load import load_run  # noqa: E402
from flexcode_bench.training import CHECKPOINT_FILE  # noqa: E402


@dataclass(frozen=True)
class Curve:
    path: Path
    model: str
    seed: int
    config: dict
    points: list[tuple[float, float]]  # (cumulative minutes at the end of the epoch, validation Recall@10)
    epochs: int
    finished: bool
    host: dict | None

    @property
    def backbone(self) -> str | None:
        return (self.config.get("model_config") or {}).get("backbone")

    @property
    def valid_users(self) -> int | None:
        return (self.config.get("model_config") or {}).get("valid_users")


def curve_in_minutes(training_curve: list[dict]) -> list[tuple[float, float]]:
    """``(cumulative minutes at the end of the epoch, validation metric)`` for each validated epoch."""
    points, minutes = [], 0.0
    for epoch in training_curve:
        minutes += epoch["seconds"] / 60.0
        if epoch.get("valid_metric") is not None:
            points.append((minutes, float(epoch["valid_metric"])))
    return points


def finished_curve(path: Path) -> Curve:
    partial = path.with_name(path.name + ".partial")
    seeds = sorted(p.name for p in path.glob("seed-*"))
    if seeds:
        raise SystemExit(f"{path} is a model's folder, not a run; pass its runs: {', '.join(seeds)}")
    try:
        record = load_run(path)
    except DataFormatError as exc:
        also = f"; it is unfinished: pass {partial}" if partial.is_dir() else ""
        raise SystemExit(f"{exc}{also}") from None
    if record.status != "finished":
        raise SystemExit(f"{path}: status {record.status!r}; pass a finished run, or its seed-<n>.partial folder")
    diagnostics = record.manifest.get("diagnostics") or {}
    metric = diagnostics.get("early_stopping_metric") or ""
    if not metric.startswith("recall@10"):
        raise SystemExit(f"{path}: its curve is {metric or 'not recorded'!r}; expected validation recall@10")
    epochs = diagnostics.get("training_curve") or []
    return Curve(path, record.model, record.seed, record.config, curve_in_minutes(epochs), len(epochs), True,
                 record.manifest.get("host"))  # fmt: skip


def unfinished_curve(path: Path) -> Curve:
    import torch

    seed = re.fullmatch(r"seed-(\d+)\.partial", path.name)
    config_file, checkpoint_file = path / CONFIG, path / CHECKPOINT_FILE
    if seed is None or not config_file.is_file() or not checkpoint_file.is_file():
        raise SystemExit(f"{path}: expected an unfinished run's seed-<n>.partial folder with {CONFIG} and "
                         f"{CHECKPOINT_FILE} (runs started before the partial folder recorded its config have none)")  # fmt: skip
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    if not (config.get("model_config") or {}).get("backbone"):
        raise SystemExit(f"{path}: {config.get('model')!r} is not a generative model; only their curves are Recall@10")
    # our own checkpoint (it holds numpy random states, so not weights_only); only its epoch reports are read
    reports = torch.load(checkpoint_file, map_location="cpu", weights_only=False)["reports"]
    return Curve(path, config["model"], int(seed.group(1)), config, curve_in_minutes(reports), len(reports), False, None)


def validated_on(curves: list[Curve]) -> str:
    """Which validation users the curves were measured on, for the y-axis: a profile early-stops on every
    validation user or on a seeded sample of them, and the figure should say which."""
    sizes = {curve.valid_users for curve in curves}
    if sizes == {None}:
        return "all validation users"
    if len(sizes) == 1:
        return f"seeded sample of {sizes.pop():,} users"
    return "each run's early-stopping users"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished run folders or unfinished runs' .partial folders")
    parser.add_argument("--threshold", type=float, default=0.04)
    parser.add_argument("--figure", type=Path, default=None, help="PNG to write (default: none)")
    args = parser.parse_args()

    # every run is checked before anything is printed or drawn
    curves = [unfinished_curve(p) if p.name.endswith(".partial") else finished_curve(p) for p in args.runs]
    for curve in curves:
        if not curve.points:
            raise SystemExit(f"{curve.path}: it records no validated epoch yet")

    for curve in curves:
        reached = next((m for m, v in curve.points if v >= args.threshold), None)
        print(json.dumps({
            "run": str(curve.path), "model": curve.model, "seed": curve.seed, "backbone": curve.backbone,
            "finished": curve.finished, "epochs": curve.epochs,
            "threshold": args.threshold,
            "minutes_to_threshold": None if reached is None else round(reached, 1),
            "best": max(v for _, v in curve.points),
            "minutes_total": round(curve.points[-1][0], 1),
            "host": curve.host,
        }))  # fmt: skip

    if args.figure is not None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(9.5, 4.4))
        FigureCanvasAgg(figure)
        ax = figure.subplots()
        for i, curve in enumerate(curves):
            label = f"{curve.model} (seed {curve.seed}, {curve.backbone or 'n/a'})"
            if not curve.finished:
                label += f", stopped after epoch {curve.epochs}"
            # the default colour cycle has 10 colours: past them, a dashed line keeps curves apart
            ax.plot([m for m, _ in curve.points], [v for _, v in curve.points], marker="o", markersize=3, label=label,
                    linestyle=("-", "--", "-.")[i // 10 % 3])  # fmt: skip
        ax.axhline(args.threshold, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("minutes of training (wall, incl. periodic validation)")
        ax.set_ylabel(f"validation Recall@10\n({validated_on(curves)})")
        # beside the axes, not on them: a grid of a dozen runs would hide its own early curves
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.grid(alpha=0.3)
        figure.tight_layout()
        args.figure.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(args.figure, dpi=150)
        print(f"wrote {args.figure}", file=sys.stderr)


if __name__ == "__main__":
    main()
