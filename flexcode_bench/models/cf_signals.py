"""Collaborative signals for FlexCode: SASRec item embeddings and next-item uncertainty per item.

The SASRec is trained on the training split only, for a fixed number of epochs and without
validation-based early stopping, so everything FlexCode learns for tokenisation is a function of
the training split (DESIGN §3, leakage guards). The result is cached beside the prepared dataset,
keyed by the dataset fingerprint and the SASRec config, so every FlexCode variant of a grid shares it.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from flexcode_bench import console, shared_stages
from flexcode_bench.atomic import atomic_path, write_text
from flexcode_bench.config import stable_hash
from flexcode_bench.locks import fill_once

CF_DIR = "cf"


def cf_signals(data, *, profile: str, epochs: int, device: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(item embeddings [n_items, hidden], normalised next-item entropy [n_items]) from a training-split SASRec."""
    from flexcode_bench.models import build_model

    sasrec = build_model("sasrec", profile, {"max_epochs": epochs, "early_stopping": False})
    key = stable_hash({"fingerprint": data.fingerprint, "sasrec": asdict(sasrec.config), "seed": seed})
    cache = data.path / CF_DIR / f"sasrec-{key}.npz"

    def save(path: Path, trained: tuple[np.ndarray, np.ndarray, float]) -> None:
        embeddings, uncertainty, seconds = trained
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as sink:
                np.savez(sink, embeddings=embeddings, uncertainty=uncertainty)
        sidecar = {"key": key, "profile": profile, "epochs": epochs, "seed": seed, "seconds": round(seconds, 3)}
        write_text(path.with_suffix(".json"), json.dumps(sidecar))

    compute = functools.partial(_train, data, sasrec, epochs=epochs, device=device, seed=seed)
    embeddings, uncertainty, _ = fill_once(cache, data.path, load=_load, compute=compute, save=save)
    return embeddings, uncertainty


def _train(data, sasrec, *, epochs: int, device: str, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    console.info(f"training the CF model (SASRec, {epochs} epochs on the training split) for FlexCode's codebook")
    started = time.perf_counter()
    sasrec.fit(data, device=device, seed=seed)
    embeddings = sasrec.item_embeddings()
    uncertainty = next_item_entropy(sasrec, data.n_items)
    seconds = time.perf_counter() - started
    shared_stages.note("cf_model", seconds=seconds, computed=True)
    return embeddings, uncertainty, seconds


def _load(cache: Path) -> tuple[np.ndarray, np.ndarray, float | None]:
    """A cached CF model's arrays and what filling the cache took (None for caches older than that record)."""
    stored = np.load(cache)
    try:
        seconds = json.loads(cache.with_suffix(".json").read_text(encoding="utf-8")).get("seconds")
    except (OSError, ValueError, AttributeError):
        seconds = None
    shared_stages.note("cf_model", seconds=seconds, computed=False)
    return stored["embeddings"], stored["uncertainty"], seconds


def next_item_entropy(model, n_items: int, batch: int = 1024) -> np.ndarray:
    """Entropy of softmax(score) after a one-item history, divided by log(n_items) (1 = uniform)."""
    entropies = np.empty(n_items)
    for start in range(0, n_items, batch):
        items = np.arange(start, min(start + batch, n_items))
        scores = model.score([np.array([i]) for i in items]).astype(np.float64)  # (b, n_items)
        scores -= scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(axis=1, keepdims=True)
        entropies[items] = -(p * np.log(np.clip(p, 1e-300, None))).sum(axis=1)
    return entropies / np.log(max(n_items, 2))
