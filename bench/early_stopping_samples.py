"""How hard is each seed's early-stopping sample? Validation Recall@10 of finished runs, on every sample.

A generative run early-stops on validation Recall@10 over a seeded sample of users (the ``cpu`` profile:
2,000 of them, drawn with the run's seed + 1; ``models.generative.early_stopping_users``), so the curves of
two seeds are measured on different users. This reads each run's per-user validation records (its final
model, over all users) and scores them on all users and on the sample each of ``--seeds`` would draw: a
sample that every model scores low on is a hard sample, not a weak seed.

    python bench/early_stopping_samples.py RUN_DIR [RUN_DIR ...] [--seeds 0 1 2] [--valid-users 2000]

RUN_DIR is a finished run folder, e.g. bench/runs/beauty-cpu/amazon-beauty/tiger/seed-2. Prints one JSON
line per run, then a markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flexcode_bench.models.generative import early_stopping_users  # noqa: E402
from flexcode_bench.results.load import load_run  # noqa: E402


def validation_hits(path: Path) -> tuple[str, np.ndarray]:
    """The run's label and its validation Recall@10 per user, indexed by user row (0 … n_users - 1)."""
    record = load_run(path)
    if record.status != "finished":
        raise SystemExit(f"{path}: status {record.status!r}; only finished runs have per-user records")
    valid = record.per_user[record.per_user["split"] == "valid"].sort_values("user_id")
    rows = valid["user_id"].to_numpy()
    if not (rows == np.arange(len(rows))).all():
        raise SystemExit(f"{path}: validation user ids are not the rows 0 … {len(rows) - 1}")
    results_dir = Path(path).resolve().parents[2].name  # RESULTS/DATASET/MODEL/seed-N
    return f"{results_dir}: {record.model} seed {record.seed}", valid["recall@10"].to_numpy(dtype=float)


def sample_scores(paths: list[Path], seeds: list[int], valid_users: int) -> list[dict]:
    """Per run: its label, validation Recall@10 over all users and on the sample each of ``seeds`` draws."""
    runs = [(path, *validation_hits(path)) for path in paths]  # every run is read before anything is scored
    return [
        {"run": str(path), "label": label, "users": len(hits), "all_users": float(hits.mean()),
         "samples": {seed: float(hits[early_stopping_users(len(hits), valid_users, seed)].mean()) for seed in seeds}}
        for path, label, hits in runs
    ]  # fmt: skip


def markdown_table(scores: list[dict]) -> str:
    seeds = list(scores[0]["samples"])
    lines = ["| run | all users | " + " | ".join(f"seed {s}'s sample" for s in seeds) + " |",
             "| --- | ---: |" + " ---: |" * len(seeds)]  # fmt: skip
    for row in scores:
        values = [row["all_users"], *row["samples"].values()]
        lines.append(f"| {row['label']} | " + " | ".join(f"{v:.4f}" for v in values) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished run folders")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="whose samples to score on")
    parser.add_argument("--valid-users", type=int, default=2000, help="the sample size (the cpu profile's)")
    args = parser.parse_args()

    scores = sample_scores(args.runs, args.seeds, args.valid_users)
    for row in scores:
        print(json.dumps({**row, "all_users": round(row["all_users"], 4),
                          "samples": {str(s): round(v, 4) for s, v in row["samples"].items()}}))  # fmt: skip
    print("\n" + markdown_table(scores))


if __name__ == "__main__":
    main()
