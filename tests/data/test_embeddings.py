"""Item-text embeddings with the real bundled MiniLM and the real TF-IDF + SVD encoder (no mocks)."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
from pathlib import Path

import numpy as np
import pytest

from flexcode_bench.config import DEFAULT_ENCODER
from flexcode_bench.data import embeddings, encoders
from flexcode_bench.data.embeddings import EmbeddingCache, embedding_key, item_embeddings, load_item_embeddings
from flexcode_bench.data.encoders import embed_texts
from flexcode_bench.data.prepared import EMBEDDINGS_DIR
from flexcode_bench.errors import ConfigError, DataFormatError, UnknownNameError

TEMPLATE = "{keywords}; {attributes}"
TEXTS = [
    "red nail polish; OPI; Makeup; Nails",
    "crimson nail lacquer; Essie; Makeup; Nails",
    "anti dandruff shampoo for dry scalp; Head & Shoulders; Hair Care",
    "",  # items without text exist in real catalogues
]


def synthetic_texts(n: int = 60) -> list[str]:
    colours = ["red", "blue", "green", "black", "pink", "gold"]
    products = ["nail polish", "lipstick", "shampoo", "face cream", "eyeliner"]
    brands = ["opi", "essie", "loreal", "nivea"]
    combos = itertools.product(colours, products, brands)
    return [f"{c} {p} by {b}" for c, p, b in itertools.islice(combos, n)]


@pytest.fixture(scope="module")
def minilm():
    """Load the bundled model once for the module; later calls reuse it through the loader's in-memory cache."""
    path = encoders.resolve_encoder(DEFAULT_ENCODER).model
    return encoders.load_sentence_transformer(path, "cpu")


@pytest.fixture
def no_network(monkeypatch):
    """Record any outgoing connection attempt; the test asserts there was none."""
    attempts: list[object] = []

    def refuse(self, address):
        attempts.append(address)
        raise OSError("network access attempted in a test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def cache_files(dataset_dir: Path) -> list[str]:
    folder = dataset_dir / EMBEDDINGS_DIR
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ---------------------------------------------------------------- MiniLM


def test_given_minilm_then_384_dims_deterministic_and_semantic(minilm):
    first = embed_texts(TEXTS, device="cpu", show_progress=False)
    second = embed_texts(TEXTS, device="cpu", batch_size=2, show_progress=False)
    assert first.shape == (4, 384) and first.dtype == np.float32
    np.testing.assert_allclose(first, second, atol=1e-5)
    assert np.array_equal(first, embed_texts(TEXTS, device="cpu", show_progress=False))
    polish, lacquer, shampoo = first[:3]
    assert cosine(polish, lacquer) > cosine(polish, shampoo) + 0.1  # 0.665 vs 0.239: fixed weights, no training


def test_given_alias_then_same_bundled_model(minilm):
    alias = embed_texts(TEXTS[:2], encoder="sentence-transformers/all-MiniLM-L6-v2", device="cpu", show_progress=False)
    assert np.array_equal(alias, embed_texts(TEXTS[:2], device="cpu", show_progress=False))


def test_given_empty_list_or_empty_text_then_shapes_hold(minilm, tmp_path):
    assert embed_texts([], device="cpu", show_progress=False).shape == (0, 384)
    assert embed_texts([""], device="cpu", show_progress=False).shape == (1, 384)
    vectors, cache = item_embeddings(tmp_path, "toy", [], TEMPLATE, device="cpu", show_progress=False)
    assert vectors.shape == (0, 384) and cache.n_items == 0 and cache.dim == 384


def test_given_cache_then_second_call_does_not_load_or_encode(minilm, tmp_path):
    vectors, cache = item_embeddings(tmp_path, "toy", TEXTS, TEMPLATE, device="cpu", batch_size=3)
    assert isinstance(cache, EmbeddingCache) and cache.n_items == len(TEXTS) == vectors.shape[0]
    assert cache.path.name == f"all-MiniLM-L6-v2-{cache.key[:12]}.npy"
    meta = json.loads(cache.path.with_suffix(".json").read_text())
    assert meta["encoder"] == DEFAULT_ENCODER and meta["dim"] == 384 and meta["text_template"] == TEMPLATE
    assert Path(meta["model"]).is_dir()  # the bundled folder, not a Hub name
    stamps = [p.stat().st_mtime_ns for p in (cache.path, cache.path.with_suffix(".json"))]
    loader_calls = encoders.load_sentence_transformer.cache_info()

    again, cache_again = item_embeddings(tmp_path, "toy", TEXTS, TEMPLATE, device="cpu")

    assert encoders.load_sentence_transformer.cache_info() == loader_calls  # the model was never asked for
    assert cache_again == cache and np.array_equal(again, vectors)
    assert [p.stat().st_mtime_ns for p in (cache.path, cache.path.with_suffix(".json"))] == stamps
    assert np.array_equal(load_item_embeddings(tmp_path), vectors)


# ---------------------------------------------------------------- keys and cache files


def test_key_changes_with_every_input():
    texts = ["a b", "c"]
    base = embedding_key("beauty", "tfidf-svd", TEMPLATE, texts, dim=16)
    assert base == embedding_key("beauty", "tfidf-svd", TEMPLATE, list(texts), dim=16)
    variants = [
        embedding_key("beauty", "tfidf-svd", "{keywords}", texts, dim=16),
        embedding_key("beauty", "tfidf-svd", TEMPLATE, ["a b", "d"], dim=16),
        embedding_key("beauty", "tfidf-svd", TEMPLATE, ["c", "a b"], dim=16),
        embedding_key("beauty", "tfidf-svd", TEMPLATE, ["a", "bc"], dim=16),
        embedding_key("beauty", "tfidf-svd", TEMPLATE, texts, dim=32),
        embedding_key("sports", "tfidf-svd", TEMPLATE, texts, dim=16),
        embedding_key("beauty", DEFAULT_ENCODER, TEMPLATE, texts, dim=16),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_given_changed_template_or_text_then_new_cache_file(tmp_path):
    texts = synthetic_texts()
    _, first = item_embeddings(tmp_path, "toy", texts, TEMPLATE, encoder="tfidf-svd", dim=8)
    _, other_template = item_embeddings(tmp_path, "toy", texts, "{keywords}", encoder="tfidf-svd", dim=8)
    _, other_text = item_embeddings(tmp_path, "toy", [*texts[:-1], "new text"], TEMPLATE, encoder="tfidf-svd", dim=8)
    assert len({first.key, other_template.key, other_text.key}) == 3
    assert len(cache_files(tmp_path)) == 6  # three .npy + three .json


def test_given_force_then_recomputed_and_rewritten(tmp_path):
    texts = synthetic_texts()
    vectors, cache = item_embeddings(tmp_path, "toy", texts, TEMPLATE, encoder="tfidf-svd", dim=8)
    inode = cache.path.stat().st_ino
    again, cache_again = item_embeddings(tmp_path, "toy", texts, TEMPLATE, encoder="tfidf-svd", dim=8, force=True)
    assert cache.path.stat().st_ino != inode  # atomically replaced by a new file
    assert cache_again == cache and np.array_equal(again, vectors)


def test_load_item_embeddings_picks_newest_matching_cache(tmp_path):
    texts = synthetic_texts()
    item_embeddings(tmp_path, "toy", texts, TEMPLATE, encoder="tfidf-svd", dim=8)
    newer, _ = item_embeddings(tmp_path, "toy", texts, TEMPLATE, encoder="tfidf-svd", dim=4)
    sidecars = sorted((tmp_path / EMBEDDINGS_DIR).glob("*.json"))
    for sidecar in sidecars:  # make the dim=4 cache strictly the newest
        meta = json.loads(sidecar.read_text())
        meta["created"] = "2030-01-01T00:00:00+00:00" if meta["dim"] == 4 else "2020-01-01T00:00:00+00:00"
        sidecar.write_text(json.dumps(meta))
    assert np.array_equal(load_item_embeddings(tmp_path, "tfidf-svd"), newer)
    with pytest.raises(DataFormatError, match="cached encoders there: tfidf-svd") as info:
        load_item_embeddings(tmp_path, DEFAULT_ENCODER)
    assert info.value.hint


def test_given_nothing_cached_then_clear_error(tmp_path):
    with pytest.raises(DataFormatError, match="no 'all-MiniLM-L6-v2' item embeddings are cached"):
        load_item_embeddings(tmp_path)


def test_given_truncated_npy_then_ignored_and_recomputed(tmp_path):
    texts = synthetic_texts()
    vectors, cache = item_embeddings(tmp_path, "toy", texts, TEMPLATE, encoder="tfidf-svd", dim=8)
    cache.path.write_bytes(cache.path.read_bytes()[:100])
    again, _ = item_embeddings(tmp_path, "toy", texts, TEMPLATE, encoder="tfidf-svd", dim=8)
    assert np.array_equal(again, vectors)
    assert np.array_equal(np.load(cache.path), vectors)


def test_given_interrupted_npy_write_then_nothing_trusted(tmp_path, monkeypatch):
    real_atomic_path = embeddings.atomic_path

    @contextlib.contextmanager
    def crash_before_rename(target):
        with real_atomic_path(target) as tmp:
            yield tmp
            raise KeyboardInterrupt  # the body has written the temp file; the rename never happens

    monkeypatch.setattr(embeddings, "atomic_path", crash_before_rename)
    with pytest.raises(KeyboardInterrupt):
        item_embeddings(tmp_path, "toy", synthetic_texts(), TEMPLATE, encoder="tfidf-svd", dim=8)
    assert cache_files(tmp_path) == []  # no target and no leftover temp file
    with pytest.raises(DataFormatError):
        load_item_embeddings(tmp_path, "tfidf-svd")


def test_given_interrupted_sidecar_write_then_npy_not_trusted(tmp_path, monkeypatch):
    texts = synthetic_texts()

    def crash(target, text):
        raise KeyboardInterrupt

    monkeypatch.setattr(embeddings, "write_text", crash)
    with pytest.raises(KeyboardInterrupt):
        item_embeddings(tmp_path, "toy", texts, TEMPLATE, encoder="tfidf-svd", dim=8)
    assert [name.endswith(".npy") for name in cache_files(tmp_path)] == [True]
    with pytest.raises(DataFormatError):
        load_item_embeddings(tmp_path, "tfidf-svd")

    monkeypatch.undo()
    vectors, cache = item_embeddings(tmp_path, "toy", texts, TEMPLATE, encoder="tfidf-svd", dim=8)
    assert cache.path.with_suffix(".json").is_file()
    assert np.array_equal(load_item_embeddings(tmp_path, "tfidf-svd"), vectors)


# ---------------------------------------------------------------- tfidf-svd and encoder names


def test_tfidf_svd_gives_requested_dim_unit_norm_and_is_deterministic():
    texts = synthetic_texts()
    first = embed_texts(texts, encoder="tfidf-svd", dim=16)
    assert first.shape == (60, 16) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(first, embed_texts(texts, encoder="tfidf-svd", dim=16))


def test_tfidf_svd_handles_empty_inputs():
    assert embed_texts([], encoder="tfidf-svd", dim=8).shape == (0, 8)
    vectors = embed_texts(["", *synthetic_texts(20)], encoder="tfidf-svd", dim=8)
    assert vectors.shape == (21, 8) and not vectors[0].any()  # an empty text has no direction
    with pytest.raises(DataFormatError, match="no words"):
        embed_texts(["", ""], encoder="tfidf-svd")


def test_given_misspelt_encoder_then_did_you_mean(no_network):
    with pytest.raises(UnknownNameError, match="did you mean 'tfidf-svd'"):
        embed_texts(["x"], encoder="tfidf-sdv")
    assert no_network == []


def test_given_missing_local_model_then_clear_error_without_network(tmp_path, no_network):
    with pytest.raises(ConfigError, match="does not exist") as info:
        embed_texts(["x"], encoder=str(tmp_path / "no-such-model"))
    assert "tfidf-svd" in info.value.hint
    with pytest.raises(ConfigError, match="not in the local Hugging Face cache; there is no network") as info:
        embed_texts(["x"], encoder="someone/not-a-cached-model")
    assert "local model folder" in info.value.hint
    assert no_network == []


def test_given_bad_sizes_then_config_error():
    with pytest.raises(ConfigError, match="batch_size"):
        embed_texts(["x"], encoder="tfidf-svd", batch_size=0)
    with pytest.raises(ConfigError, match="dim"):
        embed_texts(["x"], encoder="tfidf-svd", dim=0)
