"""Constrained beam search throughput on a paper-size model and a Beauty-size catalogue.

Model: TIGER's generator (4+4 layers, d_model 128, 6 heads x 64, FF 1024) with random weights.
Catalogue: 12,101 items, random unique codes of 3 levels x 256 + a collision token. Users: a hashed
user token + 20 history items x 4 tokens = 81 source tokens.

For beams 10, 20, 50 it times ``flexcode_bench.decoding.beam_search`` over batches of users
(users/s and per-batch latency p50/p95), then times the simple reference decoder of
``tests/test_decoding.py`` (one user at a time, full model re-run per step, no cache) on the
first few users, checks that both return the same top-10, and reports the speed-up.

    python bench/beam_search.py [--users 512] [--batch 64] [--quick]

Writes bench/out/beam_search.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the reference decoder lives with its tests

from flexcode_bench.decoding import beam_search
from flexcode_bench.device import resolve_device
from flexcode_bench.models.generator import Generator, GeneratorConfig
from flexcode_bench.tokenizers.trie import PrefixTrie
from flexcode_bench.tokenizers.vocabulary import Vocabulary
from tests.test_decoding import reference_beam_search

N_ITEMS, LEVELS, CODES_PER_LEVEL, USER_BUCKETS, HISTORY = 12_101, 3, 256, 2_000, 20
K = 10


def beauty_catalogue(rng: np.random.Generator) -> tuple[Vocabulary, np.ndarray]:
    """Random 3 x 256 semantic IDs; duplicates get collision tokens 1, 2, ... (global token ids)."""
    vocab = Vocabulary()
    starts = np.array([vocab.add(("semantic", level), CODES_PER_LEVEL) for level in range(LEVELS)])
    prefix = rng.integers(0, CODES_PER_LEVEL, size=(N_ITEMS, LEVELS))
    collision = np.zeros(N_ITEMS, dtype=np.int64)
    seen: dict[tuple[int, ...], int] = {}
    for row, key in enumerate(map(tuple, prefix.tolist())):
        collision[row] = seen.get(key, 0)
        seen[key] = collision[row] + 1
    coll = vocab.add("collision", int(collision.max()) + 1)
    vocab.add("user", USER_BUCKETS)
    return vocab, np.column_stack([prefix + starts, collision + coll])


def user_sources(rng: np.random.Generator, vocab: Vocabulary, codes: np.ndarray, n_users: int) -> torch.Tensor:
    history = codes[rng.integers(0, len(codes), size=(n_users, HISTORY))].reshape(n_users, -1)  # item-major
    user = rng.integers(0, USER_BUCKETS, size=(n_users, 1)) + vocab.range_of("user").start
    return torch.from_numpy(np.hstack([user, history]))  # (U, 81)


def time_fast(model, src, trie, beam: int, batch: int) -> dict:
    beam_search(model, src[:batch], trie, beam_size=beam, k=K)  # warm-up (allocator, kernels)
    latencies = []
    for start in range(0, len(src), batch):
        t0 = time.perf_counter()
        beam_search(model, src[start : start + batch], trie, beam_size=beam, k=K)
        latencies.append(time.perf_counter() - t0)
    return {
        "users": len(src),
        "batch": batch,
        "seconds": sum(latencies),
        "users_per_s": len(src) / sum(latencies),
        "batch_latency_p50_ms": 1e3 * float(np.percentile(latencies, 50)),
        "batch_latency_p95_ms": 1e3 * float(np.percentile(latencies, 95)),
    }


def time_reference(model, src, codes, trie, beam: int) -> dict:
    fast_items, _ = beam_search(model, src, trie, beam_size=beam, k=K)
    latencies, same = [], 0
    for user in range(len(src)):
        t0 = time.perf_counter()
        items, _ = reference_beam_search(model, src[user], codes, beam_size=beam, k=K)
        latencies.append(time.perf_counter() - t0)
        same += items == fast_items[user].tolist()
    return {
        "users": len(src),
        "seconds": sum(latencies),
        "users_per_s": len(src) / sum(latencies),
        "user_latency_p50_ms": 1e3 * float(np.percentile(latencies, 50)),
        "top_k_identical": f"{same}/{len(src)}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=512, help="users decoded per beam size")
    parser.add_argument("--batch", type=int, default=64, help="users per beam_search call")
    parser.add_argument("--reference-users", type=int, default=None, help="users for the slow reference (default 8, 4 at beam 50)")
    parser.add_argument("--beams", default="10,20,50")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="128 users, batch 32, 3 reference users")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "beam_search.json")
    args = parser.parse_args()
    if args.quick:
        args.users, args.batch, args.reference_users = 128, 32, 3
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)

    rng = np.random.default_rng(0)
    vocab, codes = beauty_catalogue(rng)
    torch.manual_seed(0)
    model = Generator(GeneratorConfig(vocab_size=vocab.size)).to(device).eval()
    trie = PrefixTrie(codes, vocab.size).to(device)
    src = user_sources(rng, vocab, codes, args.users).to(device)

    rows = []
    for beam in (int(b) for b in args.beams.split(",")):
        fast = time_fast(model, src, trie, beam, args.batch)
        n_ref = args.reference_users or (4 if beam >= 50 else 8)
        ref = time_reference(model, src[:n_ref], codes, trie, beam)
        rows.append({"beam": beam, "fast": fast, "reference": ref, "speedup": fast["users_per_s"] / ref["users_per_s"]})
        print(f"beam {beam:>3}: {fast['users_per_s']:8.1f} users/s  p50 {fast['batch_latency_p50_ms']:8.1f} ms  "
              f"p95 {fast['batch_latency_p95_ms']:8.1f} ms | reference {ref['users_per_s']:6.2f} users/s  "
              f"x{rows[-1]['speedup']:.0f}  top-{K} identical {ref['top_k_identical']}", flush=True)

    print(f"\n{'beam':>5} {'users/s':>9} {'p50 ms':>9} {'p95 ms':>9} {'ref users/s':>12} {'speed-up':>9} {'same top-10':>12}")
    for row in rows:
        f, r = row["fast"], row["reference"]
        print(f"{row['beam']:>5} {f['users_per_s']:>9.1f} {f['batch_latency_p50_ms']:>9.1f} {f['batch_latency_p95_ms']:>9.1f} "
              f"{r['users_per_s']:>12.2f} {row['speedup']:>8.0f}x {r['top_k_identical']:>12}")
    result = {
        "benchmark": "constrained beam search",
        "model": "generator 4+4 layers, d_model 128, 6x64 heads, FF 1024, random weights",
        "catalogue": {"items": N_ITEMS, "depth": LEVELS + 1, "vocab_size": vocab.size, "trie_bytes": trie.nbytes()},
        "source_len": int(src.shape[1]),
        "k": K,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "load_average_at_end": os.getloadavg(),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
