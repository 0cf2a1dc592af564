"""FlexCode's expectation over splits: L + 1 decoder rows per target against one prefix-trie row.

FlexCode's loss needs each target's NLL under all L + 1 splits of its code. Split k's code is k CF
tokens, then L - k semantic ones, then the collision token, so the splits share their common CF
prefix. ``FlexCode.split_nll`` (``SplitTrie.nll``) decodes the L + 1 codes of a target as one trie, (L+1)(L+2)/2 decoder
inputs (10 at L = 3) in one row with one cross-attention mask, where scoring them as separate rows
takes (L+1)² inputs (16) in L + 1 rows; tests/models/test_flexcode.py checks that the NLLs are the same.

This times one training step (forward, loss, backward, AdamW) of the `cpu` profile's generator on
all-targets batches shaped as amazon-beauty's (chunks of 20 targets, sources of 1 + 20 x 4 tokens,
about 256 targets a step), both ways, with random tokens (the cost does not depend on their values),
and TIGER's single row per target for reference. Best of ``--repeats`` timings of ``--steps`` steps.

    python bench/flexcode_split_trie.py [--threads 1] [--vocab 3560]

Writes bench/out/flexcode_split_trie.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from flexcode_bench.models import build_model
from flexcode_bench.models.flexcode import SplitTrie
from flexcode_bench.models.generator import Generator, GeneratorConfig, source_items
from flexcode_bench.tokenizers.vocabulary import BOS

CHUNKS, TARGETS_PER_CHUNK, MAX_HISTORY = 13, 20, 20  # 260 targets a step, as the cpu profile's 256


def network(vocab: int, depth: int) -> Generator:
    cfg = build_model("flexcode", "cpu", {}).config
    return Generator(GeneratorConfig(
        vocab_size=vocab, d_model=cfg.d_model, n_heads=cfg.n_heads, d_head=cfg.d_head, d_ff=cfg.d_ff,
        n_encoder_layers=cfg.n_layers, n_decoder_layers=cfg.n_layers, dropout=cfg.dropout,
        max_source_len=1 + MAX_HISTORY * depth, code_depth=depth, encoder_attention="item-causal",
        cross_position_bias=True,
    ))  # fmt: skip


def step_seconds(layout: str, vocab: int, levels: int, steps: int, repeats: int) -> float:
    depth, n_splits = levels + 1, levels + 1
    torch.manual_seed(0)
    net = network(vocab, depth)
    optimiser = torch.optim.AdamW(net.parameters(), lr=1e-3)
    S = 1 + MAX_HISTORY * depth
    src = torch.randint(2, vocab, (CHUNKS, S))
    src_mask = src != 0
    slot = source_items(S, depth, "cpu")
    row_mask = (slot[None, :] <= torch.arange(TARGETS_PER_CHUNK)[:, None]).repeat(CHUNKS, 1)  # (targets, S)
    codes = torch.randint(2, vocab, (CHUNKS * TARGETS_PER_CHUNK, n_splits, depth))  # (targets, L+1, depth)
    trie = SplitTrie.of(levels)

    def step() -> None:
        memory = net.encode(src, src_mask)
        if layout == "trie":
            loss = trie.nll(net, codes, memory, src_mask, row_mask).mean()  # FlexCode.split_nll's own path
        else:
            rows = codes.flatten(0, 1) if layout == "rows" else codes[:, 0]  # L + 1 rows a target, or TIGER's one
            mask = row_mask.repeat_interleave(len(rows) // len(row_mask), dim=0)
            tgt_in = torch.cat([torch.full_like(rows[:, :1], BOS), rows[:, :-1]], dim=1)
            logits = net.decode(tgt_in, memory, src_mask, mask)
            loss = F.cross_entropy(logits.flatten(0, 1).float(), rows.flatten())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    step()  # warm-up: allocator and oneDNN primitives
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, (time.perf_counter() - started) / steps)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--vocab", type=int, default=3560, help="amazon-beauty's FlexCode vocabulary: 2,000 user "
                        "buckets, 2 codebooks x 3 levels x 256, collision tokens and PAD/BOS")  # fmt: skip
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="bench/out/flexcode_split_trie.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    targets = CHUNKS * TARGETS_PER_CHUNK
    result = {"threads": args.threads, "vocab": args.vocab, "levels": args.levels, "targets_per_step": targets}
    for layout in ("rows", "trie", "tiger"):
        seconds = step_seconds(layout, args.vocab, args.levels, args.steps, args.repeats)
        result[layout] = {"step_s": seconds, "targets_per_s": targets / seconds}
        print(f"{layout:>5}: {seconds * 1000:7.0f} ms a step, {targets / seconds:6.0f} targets/s", flush=True)
    result["trie_speedup"] = result["rows"]["step_s"] / result["trie"]["step_s"]
    result["trie_over_tiger"] = result["trie"]["step_s"] / result["tiger"]["step_s"]
    print(f"trie / rows speed-up {result['trie_speedup']:.2f}x; FlexCode (trie) step / TIGER step {result['trie_over_tiger']:.2f}x")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
