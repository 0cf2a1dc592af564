"""Is the RQ-VAE trained long enough? Its losses and how well its codes keep text neighbours together, by epochs.

TIGER's semantic IDs are only as good as the RQ-VAE that makes them: items whose text is alike should share
code prefixes, so the generator can carry what it learnt about one item to its neighbours. For each epoch
count this trains the RQ-VAE as TIGER's ``cpu`` profile does (``tokenizers.semantic_ids``: levels, codebook
size and batch; the RQ-VAE's own defaults otherwise) on a prepared dataset's cached item-text embeddings and
reports:

- ``recon`` / ``commit``: reconstruction and commitment loss over all items (the training objective's terms);
- ``nn_l1`` / ``nn_l12``: over every item's 10 nearest text neighbours (cosine), the share that have the
  item's first code / its first two codes (how much of the text's neighbourhood the code prefixes keep);
- ``distinct``: items with a code of their own before the collision token (the rest share one);
- ``seconds`` to train on this machine.

    python bench/rqvae_epochs.py DATASET [--data-dir DIR] [--epochs 50 300 1000] [--seed 0] [--encoder NAME]

The embeddings must be cached already (any TIGER or FlexCode run on DATASET caches them). Prints one JSON
line per epoch count, then a markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flexcode_bench.config import DEFAULT_ENCODER  # noqa: E402
from flexcode_bench.data.embeddings import load_item_embeddings  # noqa: E402
from flexcode_bench.data.prepared import load_prepared  # noqa: E402
from flexcode_bench.tokenizers.semantic_ids import PROFILES, SemanticIdConfig  # noqa: E402

NEIGHBOURS = 10


def text_neighbours(embeddings: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """(n_items, k): each item's k nearest other items by cosine similarity of their text embeddings."""
    import faiss

    x = np.ascontiguousarray(embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True), dtype=np.float32)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    _, found = index.search(x, k + 1)
    return found[:, 1:]  # the first hit is the item itself


def code_quality(embeddings: np.ndarray, epochs: int, seed: int, neighbours: np.ndarray) -> dict:
    import torch

    from flexcode_bench.tokenizers.rqvae import RQVAEConfig, encode, fit_rqvae

    profile = SemanticIdConfig(**PROFILES["cpu"])
    config = RQVAEConfig(input_dim=embeddings.shape[1], levels=profile.levels, codebook_size=profile.codebook_size,
                         epochs=epochs, batch_size=profile.rqvae_batch_size, seed=seed)  # fmt: skip
    start = time.perf_counter()
    model = fit_rqvae(embeddings, config, device="cpu")
    seconds = time.perf_counter() - start
    codes = encode(model, embeddings)  # (n_items, levels)
    with torch.no_grad():
        out = model(torch.as_tensor(embeddings))
    return {
        "epochs": epochs,
        "recon": round(float(out.recon_loss), 4),
        "commit": round(float(out.commit_loss), 4),
        "nn_l1": round(float((codes[neighbours][:, :, 0] == codes[:, None, 0]).mean()), 3),
        "nn_l12": round(float((codes[neighbours][:, :, :2] == codes[:, None, :2]).all(-1).mean()), 3),
        "distinct": len(np.unique(codes, axis=0)),  # as collision_stats' n_unique_codes
        "seconds": round(seconds, 1),
    }


def markdown_table(rows: list[dict]) -> str:
    header = ["RQ-VAE epochs", "reconstruction", "commitment", "neighbours sharing code 1", "codes 1-2",
              "distinct codes", "seconds"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + " ---: |" * len(header)]
    for r in rows:
        cells = [r["epochs"], r["recon"], r["commit"], r["nn_l1"], r["nn_l12"], f"{r['distinct']:,}", r["seconds"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", help="a prepared dataset, e.g. amazon-beauty")
    parser.add_argument("--data-dir", default=None, help="where `flexbench prepare` wrote it (its default if omitted)")
    parser.add_argument("--epochs", nargs="+", type=int, default=[50, 300, 1000], help="RQ-VAE epoch counts to compare")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--encoder", default=DEFAULT_ENCODER, help="whose cached item embeddings to quantise")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    data = load_prepared(args.dataset, args.data_dir)
    embeddings = load_item_embeddings(data.path, args.encoder).astype(np.float32)
    neighbours = text_neighbours(embeddings)
    rows = []
    for epochs in args.epochs:
        rows.append(code_quality(embeddings, epochs, args.seed, neighbours))
        print(json.dumps(rows[-1]), flush=True)
    print("\n" + markdown_table(rows))


if __name__ == "__main__":
    main()
