"""Item-text embeddings cached per dataset; the encoders themselves are :mod:`flexcode_bench.data.encoders`.

Caches live in ``<dataset>/embeddings/`` as ``<encoder-slug>-<key[:12]>.npy`` plus a ``.json``
sidecar. The key hashes the dataset name, encoder, text template, encoder options and every text in
order, so any change to the inputs gives a new file. The ``.npy`` is written first and the sidecar
last; an ``.npy`` without its sidecar is never trusted.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from flexcode_bench import console
from flexcode_bench.atomic import atomic_path, write_text
from flexcode_bench.config import DEFAULT_ENCODER
from flexcode_bench.data.encoders import Encoder, canonical_name, looks_like_path, resolve_encoder
from flexcode_bench.data.prepared import EMBEDDINGS_DIR
from flexcode_bench.errors import ConfigError, DataFormatError
from flexcode_bench.locks import FileLock, lock_path_for

_KEY_VERSION = 1  # bump when the key recipe or the cached array's meaning changes


@dataclass(frozen=True)
class EmbeddingCache:
    """A cached embedding matrix on disk: ``path`` is the ``.npy``; its sidecar is ``path.with_suffix('.json')``."""

    path: Path
    key: str
    encoder: str
    dim: int
    n_items: int


def embedding_key(
    dataset_name: str, encoder: str, text_template: str, texts: Sequence[str], **encoder_options: Any
) -> str:
    """SHA-256 over the dataset name, encoder, text template, encoder options and every text, in order."""
    digest = hashlib.sha256()
    header = {"v": _KEY_VERSION, "dataset": dataset_name, "encoder": encoder, "template": text_template,
              "options": encoder_options, "n": len(texts)}  # fmt: skip
    digest.update(json.dumps(header, sort_keys=True, default=str).encode())
    for text in texts:
        data = text.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))  # length prefix: ["ab", "c"] != ["a", "bc"]
        digest.update(data)
    return digest.hexdigest()


def item_embeddings(
    dataset_dir: Path,
    dataset_name: str,
    texts: Sequence[str],
    text_template: str,
    *,
    encoder: str = DEFAULT_ENCODER,
    device: str = "auto",
    batch_size: int = 128,
    show_progress: bool = True,
    force: bool = False,
    dim: int = 128,
) -> tuple[np.ndarray, EmbeddingCache]:
    """Embeddings of a dataset's item texts, from ``dataset_dir/embeddings/`` when cached, else computed and cached.

    A cache hit never loads the model. ``force=True`` recomputes and overwrites. ``dim`` is used
    (and keyed) for ``tfidf-svd`` only.

    Example:
        >>> vectors, cache = item_embeddings(ds.path, ds.name, ds.item_texts, "{title}; {categories}")
        >>> vectors.shape == (ds.n_items, cache.dim)
        True
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    if dim < 1:
        raise ConfigError(f"dim must be at least 1, got {dim}")
    enc = resolve_encoder(encoder)
    options = {"dim": dim} if enc.uses_dim else {}
    key = embedding_key(dataset_name, enc.name, text_template, texts, **options)
    npy = Path(dataset_dir) / EMBEDDINGS_DIR / f"{_slug(enc.name)}-{key[:12]}.npy"
    sidecar = npy.with_suffix(".json")

    if not force:
        hit = _read_cache(npy, expected_key=key, expected_rows=len(texts))
        if hit is not None:
            return hit
    # Workers sharing the data folder encode it once: the others wait for the lock and read the cache.
    with FileLock(lock_path_for(npy)):
        if not force:
            hit = _read_cache(npy, expected_key=key, expected_rows=len(texts))
            if hit is not None:
                return hit
        return _compute_cache(npy, enc, texts, dataset_name, text_template, key, options,
                              device=device, batch_size=batch_size, show_progress=show_progress, dim=dim)  # fmt: skip


def _compute_cache(
    npy: Path, enc: Encoder, texts: Sequence[str], dataset_name: str, text_template: str, key: str, options: dict,
    *, device: str, batch_size: int, show_progress: bool, dim: int,
) -> tuple[np.ndarray, EmbeddingCache]:  # fmt: skip
    sidecar = npy.with_suffix(".json")
    # Drop the old sidecar first: a crash between the two writes below must leave an untrusted .npy
    sidecar.unlink(missing_ok=True)
    started = time.perf_counter()
    vectors = enc.encode(texts, device=device, batch_size=batch_size, show_progress=show_progress, dim=dim)
    seconds = time.perf_counter() - started
    with atomic_path(npy) as tmp, open(tmp, "wb") as handle:
        np.save(handle, vectors)  # a handle, because np.save(path) would append ".npy" to the temporary name
    meta = {
        "encoder": enc.name,
        "model": enc.model,
        "dim": int(vectors.shape[1]),
        "n_items": int(vectors.shape[0]),
        "key": key,
        "dataset": dataset_name,
        "text_template": text_template,
        "encoder_options": options,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
    }
    write_text(sidecar, json.dumps(meta, indent=2) + "\n")
    return vectors, EmbeddingCache(npy, key, enc.name, meta["dim"], meta["n_items"])


def load_item_embeddings(dataset_dir: Path, encoder: str = DEFAULT_ENCODER) -> np.ndarray:
    """The newest complete cache in ``dataset_dir/embeddings/`` made with ``encoder``.

    Raises:
        DataFormatError: no such cache exists (the message lists the encoders that do have one).
    """
    folder = Path(dataset_dir) / EMBEDDINGS_DIR
    name = canonical_name(encoder)
    candidates: list[tuple[str, float, Path]] = []
    others: set[str] = set()
    for sidecar in folder.glob("*.json"):
        meta = _read_sidecar(sidecar)
        if meta is None or not sidecar.with_suffix(".npy").is_file():
            continue
        if meta.get("encoder") != name:
            others.add(str(meta.get("encoder")))
            continue
        candidates.append((str(meta.get("created", "")), sidecar.stat().st_mtime, sidecar.with_suffix(".npy")))
    for _, _, npy in sorted(candidates, reverse=True):
        hit = _read_cache(npy)
        if hit is not None:
            return hit[0]
    found = f"; cached encoders there: {', '.join(sorted(others))}" if others else ""
    raise DataFormatError(
        f"no {name!r} item embeddings are cached in {folder}{found}",
        hint="compute them with flexcode_bench.data.embeddings.item_embeddings(...) or pass an encoder that is cached",
    )


# ---------------------------------------------------------------- cache files


def _slug(name: str) -> str:
    base = Path(name).name if looks_like_path(name) else name
    return re.sub(r"[^A-Za-z0-9._]+", "-", base).strip("-.") or "encoder"


def _read_sidecar(sidecar: Path) -> dict | None:
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _read_cache(
    npy: Path, *, expected_key: str | None = None, expected_rows: int | None = None
) -> tuple[np.ndarray, EmbeddingCache] | None:
    """The cached array and its description, or None when absent, incomplete or inconsistent."""
    sidecar = npy.with_suffix(".json")
    if not (npy.is_file() and sidecar.is_file()):
        return None  # an .npy without its sidecar is an interrupted write
    meta = _read_sidecar(sidecar)
    if meta is None or (expected_key is not None and meta.get("key") != expected_key):
        return None
    try:
        vectors = np.load(npy, allow_pickle=False)
    except (OSError, ValueError) as exc:
        console.warning(f"ignoring unreadable embedding cache {npy}: {exc}")
        return None
    rows = meta.get("n_items") if expected_rows is None else expected_rows
    if vectors.ndim != 2 or vectors.shape != (rows, meta.get("dim")) or meta.get("n_items") != rows:
        console.warning(f"ignoring embedding cache {npy}: shape {vectors.shape} does not match its sidecar")
        return None
    return vectors, EmbeddingCache(npy, str(meta["key"]), str(meta["encoder"]), int(meta["dim"]), int(meta["n_items"]))


def dataset_text_embeddings(data, *, encoder: str = DEFAULT_ENCODER, device: str = "auto") -> np.ndarray:
    """Item-text embeddings of a prepared dataset (cached beside it; computed on first use)."""
    from flexcode_bench import shared_stages

    template = data.manifest.get("processing", {}).get("text_template", "")
    asked_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    embeddings, cache = item_embeddings(data.path, data.name, data.item_texts, template, encoder=encoder, device=device)
    meta = _read_sidecar(cache.path.with_suffix(".json")) or {}
    # ISO timestamps of one format compare as strings; a cache created since the call was filled by it.
    computed = str(meta.get("created", "")) >= asked_at
    shared_stages.note("text_embeddings", seconds=meta.get("seconds"), computed=computed)
    return embeddings
