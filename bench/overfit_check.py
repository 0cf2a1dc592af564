"""Can the generator memorise a small training set? A defect check, not a benchmark of accuracy.

A generative retriever that cannot overfit 1,000 users' training sequences has a defect (a mask
that hides the history, a loss on the wrong tokens, codes the decoder cannot tell apart) rather than
a weak recipe. This trains a model of the given profile's size, without dropout and at a constant
rate, on every training target of a seeded sample of users only, and reports *training* Recall@10:
each sampled user's last training item ranked by beam search from the training items before it
(a target the model was trained on). The item codes are built from the whole training split, as in a
real run; validation and test items are never read.

    python bench/overfit_check.py --data-dir /work/runs/data [--dataset amazon-beauty] [--model tiger]
        [--size cpu] [--users 1000] [--epochs 150] [--every 10] [--threads 1]

Prints one JSON line per evaluation and writes bench/out/overfit-<model>-<dataset>-<size>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flexcode_bench.data.prepared import load_prepared  # noqa: E402
from flexcode_bench.evaluation.ranking import rank_in_topk  # noqa: E402
from flexcode_bench.models import build_model  # noqa: E402
from flexcode_bench.models.backbones import BACKBONES  # noqa: E402


def training_recall(model, users: np.ndarray, sequences: list[np.ndarray], k: int = 10) -> float:
    """Share of ``users`` whose last training item is in the top-``k`` generated from the items before it."""
    histories = [sequences[u][:-1] for u in users]
    topk = model.recommend(users, histories, k)
    ranks = rank_in_topk(topk, np.array([sequences[u][-1] for u in users]), n_items=model.item_tokens.shape[0])
    return float((ranks >= 1).mean())  # ranks are 1..k when found, 0 when not


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--dataset", default="amazon-beauty")
    parser.add_argument("--model", default="tiger")
    parser.add_argument("--size", default="cpu", help="profile whose generator size and backbone are used")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--every", type=int, default=10, help="evaluate every N epochs")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    data = load_prepared(args.dataset, args.data_dir)
    sequences = data.train_sequences
    eligible = np.array([u for u, s in enumerate(sequences) if len(s) >= 2])
    users = np.sort(np.random.default_rng(args.seed).choice(eligible, min(args.users, len(eligible)), replace=False))

    model = build_model(args.model, args.size, {"dropout": 0.0, "lr_schedule": "constant", "warmup_steps": 0})
    model.setup(data, device="cpu", seed=args.seed)
    cfg = model.config
    examples = BACKBONES.get(cfg.backbone).training_set([sequences[u] for u in users], cfg.max_history, None)
    examples.users = users[examples.users]  # the sample's row -> the real user id (hashed into a user token)
    optimizer = torch.optim.AdamW(model.trainable().parameters(), lr=args.lr, weight_decay=0.0)
    rng = np.random.default_rng(args.seed)

    rows, started = [], time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.trainable().train()
        total, seen = 0.0, 0
        for batch in examples.batches(rng, cfg.batch_size):
            loss = model.batch_loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            n = int((batch.targets >= 0).sum())
            total, seen = total + float(loss.detach()) * n, seen + n
        if epoch % args.every == 0 or epoch == args.epochs:
            recall = training_recall(model, users, sequences)
            row = {"epoch": epoch, "train_loss": total / seen, "train_recall@10": recall,
                   "minutes": (time.perf_counter() - started) / 60}  # fmt: skip
            rows.append(row)
            print(json.dumps(row), flush=True)
            if recall >= 0.99:
                break
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    result = {"dataset": args.dataset, "model": args.model, "size": args.size, "backbone": cfg.backbone,
              "users": len(users), "targets_per_epoch": examples.n_targets, "lr": args.lr, "curve": rows}  # fmt: skip
    (out / f"overfit-{args.model}-{args.dataset}-{args.size}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
