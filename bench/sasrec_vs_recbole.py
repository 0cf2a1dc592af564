"""Our SASRec against RecBole's SASRec, matched architecture, same splits, same machine.

Both: 2 blocks, hidden 64, 2 heads, max length 50, full-softmax cross-entropy, lr 1e-3, trained on
flexbench's leave-one-out split of ml-100k; validation NDCG@10 (full ranking) after every epoch; test
NDCG@10 of each model's best-validation weights through flexbench's evaluator (identical users).

Prints wall time per epoch, wall time to reach RecBole's best validation NDCG@10, the speed-up
ratio and both test NDCG@10 values, and writes them to bench/out/sasrec_vs_recbole.json.

    python bench/sasrec_vs_recbole.py --data-dir data --recbole-epochs 6

RecBole trains one sequence per prefix (~3 minutes per ml-100k epoch on 2 cores), so the RecBole side
is capped at ``--recbole-epochs``; its "best" is the best within that cap, and the report says so.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


ARCH = {"hidden": 64, "n_blocks": 2, "n_heads": 2, "max_len": 50, "loss": "ce", "lr": 1e-3, "dropout": 0.2}
RECBOLE_ARCH = {"hidden_size": 64, "inner_size": 256, "n_layers": 2, "n_heads": 2, "loss_type": "CE",
                "hidden_dropout_prob": 0.2, "attn_dropout_prob": 0.2}  # fmt: skip


def test_ndcg10(model, data) -> float:
    from flexcode_bench.config import ProtocolConfig
    from flexcode_bench.evaluation.metrics import per_user_metrics
    from flexcode_bench.runner import evaluate_split

    ranks = evaluate_split(model, data, "test", ProtocolConfig(), chunk_size=1024).ranks
    return float(per_user_metrics(ranks, ks=(10,))["ndcg@10"].mean())


def timed_curve(fit) -> tuple[list[tuple[float, float]], float]:
    """Run ``fit(on_epoch)``; return [(cumulative seconds, valid NDCG@10)] per epoch and total seconds."""
    curve: list[tuple[float, float]] = []
    started = time.perf_counter()

    def on_epoch(report) -> None:
        if report.valid_metric is not None:
            curve.append((time.perf_counter() - started, report.valid_metric))

    fit(on_epoch)
    return curve, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--ours-epochs", type=int, default=40)
    parser.add_argument("--recbole-epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench/out/sasrec_vs_recbole.json")
    args = parser.parse_args()
    from flexcode_bench.errors import FlexbenchError
    from flexcode_bench.extras import require_recbole

    try:  # before any training: this bench compares against RecBole itself
        require_recbole("bench/sasrec_vs_recbole.py")
    except FlexbenchError as exc:
        raise SystemExit(f"error: {exc}") from None

    from baselines.recbole_adapter import build as build_recbole
    from baselines.sasrec import build as build_sasrec
    from flexcode_bench.data.prepared import load_prepared

    data = load_prepared(args.dataset, args.data_dir)
    ours = build_sasrec("quick", {**ARCH, "max_epochs": args.ours_epochs, "patience": args.ours_epochs})
    ours_curve, ours_seconds = timed_curve(lambda cb: ours.fit(data, device="cpu", seed=args.seed, on_epoch=cb))
    recbole = build_recbole("SASRec", "quick", {**RECBOLE_ARCH, "epochs": args.recbole_epochs,
                                                  "stopping_step": args.recbole_epochs, "max_seq_length": 50})  # fmt: skip
    rb_curve, rb_seconds = timed_curve(lambda cb: recbole.fit(data, device="cpu", seed=args.seed, on_epoch=cb))

    rb_best_time, rb_best = max(rb_curve, key=lambda point: point[1])
    reached = next((t for t, metric in ours_curve if metric >= rb_best), None)
    result = {
        "dataset": args.dataset,
        "ours": {"epochs": len(ours_curve), "seconds_per_epoch": ours_seconds / max(len(ours_curve), 1),
                 "best_valid_ndcg10": max(m for _, m in ours_curve), "test_ndcg10": test_ndcg10(ours, data),
                 "seconds_to_reach_recbole_best": reached},
        "recbole": {"epochs": len(rb_curve), "seconds_per_epoch": rb_seconds / max(len(rb_curve), 1),
                    "best_valid_ndcg10": rb_best, "seconds_to_best": rb_best_time, "test_ndcg10": test_ndcg10(recbole, data),
                    "epoch_cap": args.recbole_epochs},
        "speedup_to_recbole_best": None if reached is None else rb_best_time / reached,
        "curves": {"ours": ours_curve, "recbole": rb_curve},
        "threads": __import__("torch").get_num_threads(),
    }  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    o, r = result["ours"], result["recbole"]
    print(f"{'':24}{'ours':>12}{'RecBole':>12}")
    print(f"{'seconds / epoch':24}{o['seconds_per_epoch']:>12.1f}{r['seconds_per_epoch']:>12.1f}")
    print(f"{'best valid NDCG@10':24}{o['best_valid_ndcg10']:>12.4f}{r['best_valid_ndcg10']:>12.4f}")
    print(f"{'test NDCG@10':24}{o['test_ndcg10']:>12.4f}{r['test_ndcg10']:>12.4f}")
    reach = "never" if reached is None else f"{reached:.1f} s"
    print(f"ours reaches RecBole's best ({rb_best:.4f}, after {rb_best_time:.1f} s, cap {args.recbole_epochs} epochs) in {reach}")
    if result["speedup_to_recbole_best"] is not None:
        print(f"speed-up to RecBole's best validation NDCG@10: {result['speedup_to_recbole_best']:.1f}x")


if __name__ == "__main__":
    main()
