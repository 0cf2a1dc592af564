"""FlexCode's two codebooks, fitted once per input and cached beside the prepared dataset.

FlexCode and its ablations that keep the alignment (the fixed splits, the popularity rule) fit the same
pair of RQ-VAEs on the same text and CF embeddings with the same seed; only the split of the token budget
differs. At the `cpu` profile's 1,000 RQ-VAE epochs one fit costs minutes, so the first run of a grid fits
it and the others read it, as they read the CF model (``cf_signals``). The key hashes both input tables
and every option of the fit, so codes fitted on other embeddings or options are never read back.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from flexcode_bench import shared_stages
from flexcode_bench.atomic import atomic_path, write_text
from flexcode_bench.config import stable_hash
from flexcode_bench.locks import fill_once
from flexcode_bench.tokenizers.dual_codebook import DualCodebookConfig, DualCodes, fit_dual_codebook

CODES_DIR = "codes"


def dual_codes(
    data_path: Path, text: np.ndarray, cf: np.ndarray, config: DualCodebookConfig, *, device: str
) -> DualCodes:
    """Both codebooks' codes for every item: read from the cache in the dataset's folder, or fitted and cached."""
    key = stable_hash({"text": _digest(text), "cf": _digest(cf), "dual_codebook": asdict(config)})
    cache = Path(data_path) / CODES_DIR / f"dual-{key}.npz"

    def save(path: Path, fitted: tuple[DualCodes, float]) -> None:
        codes, seconds = fitted
        sidecar = {"key": key, "config": asdict(config), "usage": codes.usage,
                   "final_align_loss": codes.final_align_loss, "seconds": seconds}  # fmt: skip
        # the sidecar first: the codes file is what marks the cache as filled
        write_text(path.with_suffix(".json"), json.dumps(sidecar))
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as sink:
                np.savez(sink, semantic=codes.semantic, cf=codes.cf)

    compute = functools.partial(_fit, text, cf, config, device=device)
    return fill_once(cache, Path(data_path), load=_load, compute=compute, save=save)[0]


def _digest(table: np.ndarray) -> str:
    """SHA-256 of a table's shape, dtype and bytes: equal digests mean the fit sees equal input."""
    table = np.ascontiguousarray(table)
    header = f"{table.dtype.str}{table.shape}".encode()
    return hashlib.sha256(header + table.tobytes()).hexdigest()


def _fit(text: np.ndarray, cf: np.ndarray, config: DualCodebookConfig, *, device: str) -> tuple[DualCodes, float]:
    started = time.perf_counter()
    codes = fit_dual_codebook(text, cf, config, device=device)
    seconds = round(time.perf_counter() - started, 3)  # as the sidecar keeps it
    shared_stages.note("dual_codebook", seconds=seconds, computed=True)
    return codes, seconds


def _load(cache: Path) -> tuple[DualCodes, float]:
    stored = np.load(cache)
    sidecar = json.loads(cache.with_suffix(".json").read_text(encoding="utf-8"))
    shared_stages.note("dual_codebook", seconds=sidecar["seconds"], computed=False)
    return DualCodes(stored["semantic"], stored["cf"], sidecar["usage"], sidecar["final_align_loss"]), sidecar["seconds"]
