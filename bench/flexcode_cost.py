"""FlexCode's extra cost over TIGER, from the run records of both models on the same data and machine.

Reads ``results/<dataset>/{flexcode,tiger}/seed-<n>/manifest.json`` (so the numbers are those of real
runs, e.g. the README's main job) and prints, for each seed present for both models:

- tokenisation seconds (FlexCode: CF model + dual RQ-VAE + router features; TIGER: RQ-VAE),
- generator training seconds per epoch (FlexCode decodes L + 1 splits per target),
- whole training phase (tokenisation + generator) and test decoding time,

as FlexCode / TIGER ratios. Targets (the FlexCode issue): training ≤ 2×, decoding ≤ 1.2×.

    python bench/flexcode_cost.py --results-dir results --dataset ml-100k
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def costs(manifest: dict) -> dict[str, float]:
    diagnostics = manifest["diagnostics"]
    epochs = [e["seconds"] for e in diagnostics["training_curve"]]
    return {
        "tokenize_s": diagnostics.get("tokenize_seconds", 0.0),
        "epoch_s": sum(epochs) / max(len(epochs), 1),
        "train_phase_s": manifest["timings"]["train"],
        "decode_test_s": manifest["timings"]["evaluate_test"],
        "decode_users_per_s": diagnostics.get("decode_users_per_second", float("nan")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--model", default="flexcode", help="the FlexCode variant to compare (e.g. flexcode-no-moe)")
    parser.add_argument("--out", default="bench/out/flexcode_cost.json")
    args = parser.parse_args()

    root = Path(args.results_dir) / args.dataset
    rows = []
    for tiger_run in sorted((root / "tiger").glob("seed-*")):
        flex_run = root / args.model / tiger_run.name
        if not (flex_run / "manifest.json").is_file() or not (tiger_run / "manifest.json").is_file():
            continue
        flex = costs(json.loads((flex_run / "manifest.json").read_text()))
        tiger = costs(json.loads((tiger_run / "manifest.json").read_text()))
        ratios = {key: flex[key] / tiger[key] for key in flex if tiger[key]}
        rows.append({"seed": tiger_run.name, args.model: flex, "tiger": tiger, "ratio": ratios})
    if not rows:
        raise SystemExit(f"no seed with both {args.model} and tiger runs under {root}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))
    for row in rows:
        print(f"{row['seed']}: {'':18}{args.model:>16}{'tiger':>10}{'ratio':>8}")
        for key in row["tiger"]:
            print(f"  {key:26}{row[args.model][key]:>16.2f}{row['tiger'][key]:>10.2f}{row['ratio'].get(key, float('nan')):>8.2f}")


if __name__ == "__main__":
    main()
