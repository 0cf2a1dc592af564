"""Which half of a seed makes a generative run weak: its item codes or its generator?

A run's seed sets both how the items are coded (the RQ-VAE's k-means initialisation and batches) and how the
generator starts and sees its batches. This trains a model of the given profile with the codes of
``--code-seed`` and everything else (initialisation, batch order, early-stopping sample) of ``--seed``, then
scores validation Recall@10 over *all* validation users, so runs with different early-stopping samples
compare. Test items are never read. Crossing two seeds (A's codes with B's generator and the reverse)
against the two plain runs separates the two effects.

    python bench/seed_split.py --data-dir /work/runs/data --code-seed 2 --seed 0 [--dataset amazon-beauty]
        [--model tiger] [--profile cpu] [--threads 2]

Prints each epoch to stderr and a final JSON line, and writes
bench/out/seed-split-<model>-<dataset>-<profile>-codes<C>-seed<S>.json.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flexcode_bench.data.prepared import load_prepared  # noqa: E402
from flexcode_bench.models import build_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--dataset", default="amazon-beauty")
    parser.add_argument("--model", default="tiger")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--code-seed", type=int, required=True, help="the seed whose item codes are used")
    parser.add_argument("--seed", type=int, required=True, help="the seed of everything else")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = load_prepared(args.dataset, args.data_dir)
    model = build_model(args.model, args.profile, {})
    build_codes = model.build_codes
    model.build_codes = lambda data, *, device, seed: build_codes(data, device=device, seed=args.code_seed)

    def progress(report) -> None:
        print(f"epoch {report.epoch}: train loss {report.train_loss:.3f}, sample Recall@10 {report.valid_metric}",
              file=sys.stderr, flush=True)  # fmt: skip

    started = time.perf_counter()
    result = model.fit(data, device="cpu", seed=args.seed, on_epoch=progress)
    minutes = (time.perf_counter() - started) / 60
    all_users = model.validation_recall(data, np.arange(data.n_users), data.history("valid"))
    summary = {
        "model": args.model, "dataset": args.dataset, "profile": args.profile, "code_seed": args.code_seed,
        "seed": args.seed, "valid_recall@10_all_users": all_users,
        "best_epoch": result.best_epoch, "best_valid_sample_recall@10": result.best_valid_metric,
        "training_minutes": minutes, "distinct_codes": result.diagnostics.get("collisions", {}).get("n_unique_codes"),
        "curve": [dataclasses.asdict(report) for report in result.epochs],
    }  # fmt: skip
    print(json.dumps({k: v for k, v in summary.items() if k != "curve"}))
    out = ROOT / "bench" / "out" / f"seed-split-{args.model}-{args.dataset}-{args.profile}-codes{args.code_seed}-seed{args.seed}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(out)  # a killed run leaves no half-written result
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
