"""Training targets per second of the two generator backbones at the same model size.

One target = one (user, position) predicted. The per-window backbone (TIGER's layout) pays one
bidirectional encoder pass over the previous ``max_history`` items for every target; the all-targets
backbone encodes a user's chunk once, item-causally, and gives each target a decoder row that reads its
prefix. Both run the same generator, item codes, optimiser and loss; only the batching and the
encoder mask differ. TIGER's codes are its random-ID ablation (same shape as semantic IDs) so that no
RQ-VAE is trained here: throughput does not depend on which codes the items get. FlexCode
(``--model flexcode``) scores each target under its L + 1 splits (one decoder row per target holding the
prefix trie of its L + 1 codes, one encoder pass; see bench/flexcode_split_trie.py); its CF model is a one-epoch smoke SASRec, for the same reason. The RQ-VAEs train fully:
collision tokens grow the vocabulary, and so the output layer, when codebooks are left untrained.

    python bench/backbone_throughput.py --data-dir /work/runs/data [--dataset amazon-beauty]
        [--model tiger|flexcode] [--size quick|cpu|paper] [--steps 20] [--precision fp32|bf16] [--threads 1]

Prints one JSON line per backbone and writes bench/out/backbone_throughput-<model>-<size>-<precision>.json.
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
from flexcode_bench.models import build_model  # noqa: E402

# codes whose values do not matter for speed, fitted as cheaply as each model allows
CHEAP_CODES = {"tiger": {"item_ids": "random"}, "flexcode": {"cf_profile": "smoke", "cf_epochs": 1}}


def measure(data, name: str, size: str, backbone: str, steps: int, precision: str) -> dict:
    overrides = {**CHEAP_CODES[name], "backbone": backbone, "precision": precision, "dropout": 0.0}
    model = build_model(name, size, overrides)
    examples = model.setup(data, device="cpu", seed=0)
    optimizer = torch.optim.AdamW(model.trainable().parameters(), lr=1e-3)
    batches = examples.batches(np.random.default_rng(0), model.config.batch_size)
    model.trainable().train()
    targets, tokens, seconds = 0, 0, 0.0
    for step, batch in zip(range(steps + 2), batches):
        started = time.perf_counter()
        loss = model.batch_loss(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= 2:  # the first steps warm up allocators and oneDNN kernels
            seconds += time.perf_counter() - started
            targets += int((batch.targets >= 0).sum())
            tokens += batch.windows.shape[0] * (1 + batch.windows.shape[1] * model.item_tokens.shape[1])
    return {
        "model": name, "backbone": backbone, "size": size, "precision": precision, "threads": torch.get_num_threads(),
        "targets_per_second": targets / seconds, "encoder_tokens_per_target": tokens / targets,
        "targets_per_epoch": examples.n_targets, "epoch_minutes": examples.n_targets / (targets / seconds) / 60,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--dataset", default="amazon-beauty")
    parser.add_argument("--model", default="tiger", choices=sorted(CHEAP_CODES))
    parser.add_argument("--size", default="cpu", help="profile whose generator size is measured")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_prepared(args.dataset, args.data_dir)
    rows = [measure(data, args.model, args.size, b, args.steps, args.precision) for b in ("per-window", "all-targets")]
    for row in rows:
        print(json.dumps(row))
    speedup = rows[1]["targets_per_second"] / rows[0]["targets_per_second"]
    print(json.dumps({"all_targets_over_per_window": speedup}))
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"backbone_throughput-{args.model}-{args.size}-{args.precision}.json").write_text(json.dumps({"rows": rows, "speedup": speedup}, indent=2))


if __name__ == "__main__":
    main()
