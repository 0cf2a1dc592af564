"""Training throughput of the paper-size generator, and its share of plain matmul FLOP/s.

One training step = forward, cross-entropy over the target tokens, backward, AdamW step, at
batch 256 with a source of 81 tokens (1 user token + 20 items x 4 tokens) and a decoder input of
4 tokens (BOS + the first 3 code tokens; the 4 labels are the item's code).

FLOPs (matmuls only; elementwise ops, norms and the optimizer are not counted), per example,
with d = d_model, I = n_heads * d_head (attention inner width), F = d_ff, V = vocabulary,
S = source length, T = decoder length, g = targets per source (1 unless stated):

    encoder MACs = L_enc * [ S * (4 d I + 2 d F) + 2 S^2 I ]               (q,k,v,o; FF; QK^T and AV)
    decoder MACs = L_dec * [ g T (6 d I + 2 d F) + 2 S d I + 2 g T^2 I + 2 g T S I ]
                                  (self q,k,v,o + cross q,o; FF; cross k,v of the source; attention)
    head MACs    = g T d V
    train FLOPs  = 3 * 2 * (encoder + decoder + head)      (backward ~ 2x forward; 1 MAC = 2 FLOPs)

The reference "peak" is ``torch.matmul`` FLOP/s measured in the same process with the same
thread count: the best of a 1024^2 square product and the model's FF shape (B*S x 128 @ 128 x 1024),
measured before and after every variant, in fp32 for the fp32 variants and in bf16 for the
autocast one (the CPU here has AVX512-BF16, so bf16 matmuls are ~3x fp32 and the bf16 row is
judged against the bf16 matmul). Two ratios are reported because the 2 cores are shared: per wall
second against the best matmul seen (pessimistic: a 20 ms matmul often runs unpreempted, a 10 s
step never does) and per CPU second of this process (time.process_time; robust to other
processes, and with N threads it charges OpenMP's spin-waits to the model, as it should).

Variants: dropout 0.1 vs 0; oneDNN (mkldnn) off; bf16 autocast; an unfused attention (explicit
softmax instead of ``F.scaled_dot_product_attention``); the relative bias frozen (lets the fused
CPU kernel run in the encoder: it returns no gradient for an additive mask, so a learnt bias sends
SDPA to its math fallback); and g = 5 targets per source, FlexCode's expectation over the L + 1
token splits of one target item, which share one encoder pass. TIGER's next-item targets cannot
share an encoder pass: each target has its own history and the encoder is bidirectional, so
reading a longer history for an earlier target would leak the future.

    python bench/train_throughput.py [--batch 256] [--steps 3] [--threads N] [--quick]

Writes bench/out/train_throughput.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flexcode_bench.device import resolve_device
from flexcode_bench.models.generator import Generator, GeneratorConfig

VOCAB = 2 + 3 * 256 + 2 + 2_000  # specials, 3 semantic levels, collision tokens, user hashes (Beauty)
SOURCE_LEN, TARGET_LEN = 81, 4


def train_flops(cfg: GeneratorConfig, S: int, T: int, g: int = 1) -> float:
    """Matmul FLOPs of one training example (forward + backward); formula in the module docstring."""
    d, inner, ff = cfg.d_model, cfg.n_heads * cfg.d_head, cfg.d_ff
    enc = cfg.n_encoder_layers * (S * (4 * d * inner + 2 * d * ff) + 2 * S * S * inner)
    dec = cfg.n_decoder_layers * (
        g * T * (6 * d * inner + 2 * d * ff) + 2 * S * d * inner + 2 * g * T * T * inner + 2 * g * T * S * inner
    )
    head = g * T * d * cfg.vocab_size
    return 3 * 2 * (enc + dec + head)


def matmul_peak(device: str, rows: int, repeats: int = 5) -> dict[str, dict[str, float]]:
    """Plain matmul FLOP/s, a 1024^2 square and the model's FF shape, in fp32 and bf16: per wall
    second (best repeat) and per CPU second of this process (all repeats)."""
    shapes = {"square_1024": (1024, 1024, 1024), "ff_shape": (rows, 128, 1024)}
    out = {}
    for dtype in (torch.float32, torch.bfloat16):
        for name, (m, k, n) in shapes.items():
            a = torch.randn(m, k, device=device, dtype=dtype)
            b = torch.randn(k, n, device=device, dtype=dtype)
            for _ in range(2):
                a @ b
            best, cpu0 = float("inf"), time.process_time()
            for _ in range(repeats):
                _sync(device)
                t0 = time.perf_counter()
                a @ b
                _sync(device)
                best = min(best, time.perf_counter() - t0)
            flops = 2 * m * k * n
            cpu = (time.process_time() - cpu0) / repeats
            out[f"{name}_{str(dtype).removeprefix('torch.')}"] = {"wall": flops / best, "cpu": flops / cpu}
    return out


def best(peaks: list[dict[str, dict[str, float]]], dtype: str, clock: str) -> float:
    """The best matmul FLOP/s seen so far for ``dtype`` ("float32"/"bfloat16") on ``clock``."""
    return max(v[clock] for p in peaks for key, v in p.items() if key.endswith(dtype))


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _explicit_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """The unfused baseline: materialised scores, softmax, then the weighted sum."""
    scores = (q @ k.transpose(-2, -1)) * (scale or q.shape[-1] ** -0.5)  # (B, H, T, S)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else scores + attn_mask
    return F.dropout(scores.softmax(-1), dropout_p) @ v


@contextlib.contextmanager
def unfused_attention() -> Iterator[None]:
    fused = F.scaled_dot_product_attention
    F.scaled_dot_product_attention = _explicit_attention
    try:
        yield
    finally:
        F.scaled_dot_product_attention = fused


def run_variant(
    cfg: GeneratorConfig, device: str, batch: int, steps: int, *, g: int = 1,
    context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext, freeze_bias: bool = False,
) -> dict[str, float]:
    torch.manual_seed(0)
    model = Generator(cfg).to(device).train()
    if freeze_bias:
        model.encoder_bias.requires_grad_(False)
        model.decoder_bias.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    src = torch.randint(2, cfg.vocab_size, (batch, SOURCE_LEN), device=device)
    code = torch.randint(2, cfg.vocab_size, (batch, g, TARGET_LEN), device=device)
    tgt_in = torch.cat([torch.ones_like(code[..., :1]), code[..., :-1]], -1)  # BOS + first 3 code tokens
    if g == 1:
        code, tgt_in = code[:, 0], tgt_in[:, 0]

    def step() -> None:
        with context():
            logits = model(src, tgt_in)  # (B, T, V) or (B, g, T, V)
            loss = F.cross_entropy(logits.reshape(-1, cfg.vocab_size).float(), code.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up: allocator, kernel selection, optimizer state
    _sync(device)
    t0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    _sync(device)
    seconds = (time.perf_counter() - t0) / steps
    cpu_seconds = (time.process_time() - cpu0) / steps
    flops = train_flops(cfg, SOURCE_LEN, TARGET_LEN, g) * batch
    return {"targets_per_source": g, "step_s": seconds, "step_cpu_s": cpu_seconds,
            "examples_per_s": batch * g / seconds, "sources_per_s": batch / seconds, "flop_per_step": flops,
            "flop_per_s": flops / seconds, "flop_per_cpu_s": flops / cpu_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant (after one warm-up)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="batch 64, 2 steps")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "train_throughput.json")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.steps = 64, 2
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    base = GeneratorConfig(vocab_size=VOCAB, max_source_len=SOURCE_LEN)  # TIGER sizes, dropout 0.1
    no_dropout = replace(base, dropout=0.0)
    mkldnn_off = lambda: torch.backends.mkldnn.flags(enabled=False)
    bf16 = lambda: torch.autocast(device.split(":")[0], dtype=torch.bfloat16)

    variants: dict[str, dict] = {
        "dropout 0.1 (paper)": {"cfg": base},
        "dropout 0": {"cfg": no_dropout},
        "dropout 0, mkldnn off": {"cfg": no_dropout, "context": mkldnn_off},
        "dropout 0, bf16 autocast": {"cfg": no_dropout, "context": bf16},
        "dropout 0, unfused attention": {"cfg": no_dropout, "context": unfused_attention},
        "dropout 0, relative bias frozen": {"cfg": no_dropout, "freeze_bias": True},
        "dropout 0, 5 targets per source": {"cfg": no_dropout, "g": 5},
    }
    peaks = [matmul_peak(device, args.batch * SOURCE_LEN)]
    rows = {}
    for name, spec in variants.items():
        rows[name] = run_variant(device=device, batch=args.batch, steps=args.steps, **spec)
        peaks.append(matmul_peak(device, args.batch * SOURCE_LEN))
        r = rows[name]
        print(f"{name:<34} {r['examples_per_s']:8.1f} ex/s  step {r['step_s']:6.2f} s "
              f"(cpu {r['step_cpu_s']:6.2f} s)  {r['flop_per_s'] / 1e9:6.1f} GFLOP/s", flush=True)

    print(f"\nmatmul, best of 1024^2 and the FF shape ({torch.get_num_threads()} threads): "
          f"fp32 {best(peaks, 'float32', 'wall') / 1e9:.1f} GFLOP/s wall, "
          f"{best(peaks, 'float32', 'cpu') / 1e9:.1f} per CPU-s; "
          f"bf16 {best(peaks, 'bfloat16', 'wall') / 1e9:.1f} wall, {best(peaks, 'bfloat16', 'cpu') / 1e9:.1f} per CPU-s")
    print("% wall = model FLOP/s over the best wall-clock matmul FLOP/s (pessimistic on a shared machine);")
    print("% cpu  = the same per CPU-second of this process (robust to other processes); bf16 rows vs bf16 matmul\n")
    print(f"{'variant':<34} {'examples/s':>11} {'step s':>8} {'GFLOP/s':>9} {'% wall':>7} {'% cpu':>7}")
    for name, r in rows.items():
        dtype = "bfloat16" if "bf16" in name else "float32"
        r["matmul_dtype"] = dtype
        r["fraction_of_matmul_peak_wall"] = r["flop_per_s"] / best(peaks, dtype, "wall")
        r["fraction_of_matmul_per_cpu_s"] = r["flop_per_cpu_s"] / best(peaks, dtype, "cpu")
        print(f"{name:<34} {r['examples_per_s']:>11.1f} {r['step_s']:>8.2f} {r['flop_per_s'] / 1e9:>9.1f} "
              f"{100 * r['fraction_of_matmul_peak_wall']:>6.1f}% {100 * r['fraction_of_matmul_per_cpu_s']:>6.1f}%")
    result = {
        "benchmark": "generator training throughput",
        "model": "4+4 layers, d_model 128, 6x64 heads, FF 1024, relative position buckets, tied embeddings",
        "batch": args.batch, "source_len": SOURCE_LEN, "decoder_len": TARGET_LEN, "vocab_size": VOCAB,
        "steps": args.steps, "device": device, "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
        "flop_formula": "3 * 2 * MACs(encoder + decoder + head); see bench/train_throughput.py docstring",
        "train_flop_per_example": train_flops(base, SOURCE_LEN, TARGET_LEN),
        "matmul_flop_per_s": {
            "fp32_wall": best(peaks, "float32", "wall"), "fp32_per_cpu_s": best(peaks, "float32", "cpu"),
            "bf16_wall": best(peaks, "bfloat16", "wall"), "bf16_per_cpu_s": best(peaks, "bfloat16", "cpu"),
            "measurements": peaks,
        },
        "load_average_at_end": os.getloadavg(),
        "variants": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
