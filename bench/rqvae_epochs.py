"""Is the RQ-VAE trained long enough? Its losses and how well its codes keep text neighbours together, by epochs.

TIGER's semantic IDs are only as good as the RQ-VAE that makes them: items whose text is alike should share
code prefixes, so the generator can carry what it learnt about one item to its neighbours. For each epoch
count this trains the RQ-VAE (the ``cpu`` profile's: 512-256-128 -> 32-d, 3 levels x 256, Adam 1e-3, batch
1,024, k-means init) on a prepared dataset's cached item-text embeddings and reports:

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

    start = time.perf_counter()
    model = fit_rqvae(embeddings, RQVAEConfig(input_dim=embeddings.shape[1], epochs=epochs, seed=seed), device="cpu")
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
        "distinct": len({tuple(row) for row in codes.tolist()}),
        "seconds": round(seconds, 1),
    }


def markdown_table(rows: list[dict]) -> str:
    lines = ["| RQ-VAE epochs | reconstruction | commitment | neighbours sharing code 1 | codes 1-2 | distinct codes | seconds |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['epochs']} | {r['recon']} | {r['commit']} | {r['nn_l1']} | {r['nn_l12']} | {r['distinct']:,} | {r['seconds']} |")
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
