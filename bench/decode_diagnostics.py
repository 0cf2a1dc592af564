"""What a trained generative run's top-K lists are made of, on validation: history items and beam width.

Reloads a run kept with ``flexbench run --keep-checkpoints`` (its ``build_codes.pt`` and ``model.pt``)
and decodes a seeded sample of validation users (the test split is never read). It reports, per beam
width: validation Recall@10 with the run's protocol (history not masked), the share of top-10 slots
taken by items of the user's own history (a dataset without repeat consumption, such as the S3-Rec
Amazon files, never has such a target, so every such slot is a wasted one), and Recall@10 when those
items are dropped and the list refilled from the remaining beams (what ``--mask-history`` does).

    python bench/decode_diagnostics.py RUN_FOLDER --data-dir /work/runs/data [--users 5000] [--beams 20,40]

Prints one JSON line per beam width and writes bench/out/decode-<dataset>-<model>-<seed>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flexcode_bench.data.prepared import load_prepared  # noqa: E402
from flexcode_bench.evaluation.ranking import rank_in_topk  # noqa: E402
from flexcode_bench.models import model_spec  # noqa: E402
from flexcode_bench.models.generative import drop_history  # noqa: E402


def recall(topk: np.ndarray, targets: np.ndarray, n_items: int) -> float:
    """Recall@K of top-K lists, through the evaluator's own checks (distinct, valid ids; -1 padding last)."""
    return float((rank_in_topk(topk, targets, n_items=n_items) >= 1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a run folder kept with --keep-checkpoints")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--users", type=int, default=5000, help="seeded sample of validation users (0 = all)")
    parser.add_argument("--beams", default="20,40")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in ("model.pt", "build_codes.pt", "config.yaml"):
        if not (args.run / name).is_file():
            parser.error(f"{args.run / name} is missing: rerun the run with --keep-checkpoints")
    config = yaml.safe_load((args.run / "config.yaml").read_text())
    data = load_prepared(config["dataset"], args.data_dir)
    spec = model_spec(config["model"])
    model = spec.build(spec.typed(config["model_config"]))  # the run's own resolved config, whatever the profile says now
    model.setup(data, device="cpu", seed=config["seed"], workdir=args.run)  # codes from build_codes.pt
    model.trainable().load_state_dict(torch.load(args.run / "model.pt"))

    users = np.arange(data.n_users)
    if 0 < args.users < data.n_users:
        users = np.sort(np.random.default_rng(0).choice(data.n_users, args.users, replace=False))
    histories = data.history("valid")
    history = [histories[u] for u in users]
    targets = data.valid_targets[users]
    rows = []
    for beam in (int(b) for b in args.beams.split(",")):
        model.config = dataclasses.replace(model.config, beam_size=beam, mask_history=False)
        started = time.perf_counter()
        found = model.recommend(users, history, beam)  # (U, beam), best first
        seconds = time.perf_counter() - started
        top10 = found[:, :10]
        in_history = np.mean([np.isin(row, h).mean() for row, h in zip(top10, history)])
        masked = drop_history(found, history, 10)
        rows.append({
            "beam": beam, "users": len(users), "recall@10": recall(top10, targets, data.n_items),
            "history_share_of_top10": float(in_history),
            "recall@10_history_dropped": recall(masked, targets, data.n_items),
            "users_per_second": len(users) / seconds,
        })  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    file = out / f"decode-{config['dataset']}-{config['model']}-{config['seed']}.json"
    file.write_text(json.dumps({"run": str(args.run), "config_hash": config.get("config_hash"), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
