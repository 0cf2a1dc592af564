"""Batched constrained beam search against a deliberately simple reference decoder (the oracle).

The reference decodes one user at a time, re-runs the whole model (encoder included) on every
prefix at every step, and keeps its beams in plain Python lists, checking validity against a
Python dict of prefixes rather than the trie under test. ``bench/beam_search.py`` times it too.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from flexcode_bench.decoding import beam_search, unconstrained_invalid_rate
from flexcode_bench.errors import ConfigError
from flexcode_bench.models.generator import Generator, GeneratorConfig
from flexcode_bench.tokenizers.trie import PrefixTrie
from flexcode_bench.tokenizers.vocabulary import BOS, Vocabulary


def reference_beam_search(
    model: Generator, src: torch.Tensor, codes: np.ndarray, *, beam_size: int, k: int
) -> tuple[list[int], list[float]]:
    """Top-k items for ONE user (src (S,)): full re-run per step, Python beam bookkeeping."""
    depth = codes.shape[1]
    next_tokens: dict[tuple[int, ...], set[int]] = defaultdict(set)
    item_of = {}
    for item, code in enumerate(codes.tolist()):
        item_of[tuple(code)] = item
        for level in range(depth):
            next_tokens[tuple(code[:level])].add(code[level])
    was_training = model.training
    model.eval()
    beams: list[tuple[tuple[int, ...], float]] = [((), 0.0)]
    with torch.no_grad():
        for _ in range(depth):
            tgt_in = torch.tensor([[BOS, *prefix] for prefix, _ in beams], device=src.device)
            logits = model(src[None].expand(len(beams), -1), tgt_in)[:, -1]  # whole model, every step
            logp = F.log_softmax(logits.float(), dim=-1).cpu()
            candidates = [
                (prefix + (token,), score + float(row[token]))
                for (prefix, score), row in zip(beams, logp)
                for token in sorted(next_tokens[prefix])
            ]
            candidates.sort(key=lambda c: -c[1])
            beams = candidates[:beam_size]
    model.train(was_training)
    return [item_of[prefix] for prefix, _ in beams[:k]], [score for _, score in beams[:k]]


def catalogue(n_items: int, seed: int, per_level: int = 6, levels: int = 2) -> tuple[Vocabulary, np.ndarray]:
    """Random semantic IDs (``levels`` x ``per_level`` codes) plus a collision token, in global ids."""
    rng = np.random.default_rng(seed)
    vocab = Vocabulary()
    starts = np.array([vocab.add(("semantic", level), per_level) for level in range(levels)])
    prefix = rng.integers(0, per_level, size=(n_items, levels))
    collision = np.zeros(n_items, dtype=np.int64)
    seen: dict[tuple[int, ...], int] = {}
    for row, key in enumerate(map(tuple, prefix.tolist())):
        collision[row] = seen.get(key, 0)
        seen[key] = collision[row] + 1
    coll = vocab.add("collision", int(collision.max()) + 1)
    vocab.add("user", 7)
    return vocab, np.column_stack([prefix + starts, collision + coll])


def setup(
    seed: int, n_items: int = 50, users: int = 4, encoder_attention: str = "bidirectional"
) -> tuple[Generator, torch.Tensor, np.ndarray, PrefixTrie]:
    vocab, codes = catalogue(n_items, seed)
    torch.manual_seed(seed)
    cfg = GeneratorConfig(vocab_size=vocab.size, d_model=32, n_heads=3, d_head=8, d_ff=64, n_encoder_layers=2,
                          n_decoder_layers=2, dropout=0.1, max_source_len=16,  # dropout on: search must turn it off
                          encoder_attention=encoder_attention, code_depth=codes.shape[1])
    model = Generator(cfg)
    rng = np.random.default_rng(seed + 100)
    history = codes[rng.integers(0, n_items, size=(users, 3))].reshape(users, -1)  # 3 items, item-major
    user_token = rng.integers(0, 7, size=(users, 1)) + vocab.range_of("user").start
    src = torch.from_numpy(np.hstack([user_token, history]))
    src[0, 1:4] = 0  # one user with a shorter (padded) history
    return model, src, codes, PrefixTrie(codes, vocab.size)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize(("beam_size", "k"), [(5, 5), (10, 4), (25, 10)])
@pytest.mark.parametrize("encoder_attention", ["bidirectional", "item-causal"])  # the two backbones' encoders
def test_given_random_model_then_top_k_equals_reference(seed: int, beam_size: int, k: int, encoder_attention: str) -> None:
    model, src, codes, trie = setup(seed, encoder_attention=encoder_attention)
    model.train()  # beam_search must decode in eval mode and restore the flag
    items, scores = beam_search(model, src, trie, beam_size=beam_size, k=k)
    assert model.training
    assert items.shape == (len(src), k) and scores.shape == (len(src), k) and items.dtype == torch.int64
    for user in range(len(src)):
        ref_items, ref_scores = reference_beam_search(model, src[user], codes, beam_size=beam_size, k=k)
        assert items[user].tolist() == ref_items
        np.testing.assert_allclose(scores[user].numpy(), ref_scores, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", [4, 5])
def test_given_results_then_distinct_valid_items_with_falling_scores(seed: int) -> None:
    model, src, codes, trie = setup(seed, n_items=80, users=6)
    items, scores = beam_search(model, src, trie, beam_size=12, k=10)  # level 0 has only 6 tokens: beams die
    for row, row_scores in zip(items.tolist(), scores):
        assert len(set(row)) == 10 and all(0 <= item < len(codes) for item in row)
        assert torch.isfinite(row_scores).all() and (row_scores[:-1] >= row_scores[1:]).all()
    # each score is its code's summed log-probability under teacher forcing
    item_codes = torch.from_numpy(codes[items.view(-1)])  # (60, depth)
    tgt_in = torch.cat([torch.full((60, 1), BOS), item_codes[:, :-1]], 1)
    model.eval()
    with torch.no_grad():
        logp = F.log_softmax(model(src.repeat_interleave(10, 0), tgt_in), -1)  # (60, depth, V)
    code_logp = logp.gather(2, item_codes[:, :, None]).sum((1, 2)).view(6, 10)
    torch.testing.assert_close(code_logp, scores, atol=1e-4, rtol=1e-4)

def test_given_catalogue_smaller_than_k_or_beam_below_k_then_errors() -> None:
    model, src, _, trie = setup(0, n_items=8)
    with pytest.raises(ConfigError, match="beam_size"):
        beam_search(model, src, trie, beam_size=5, k=6)
    with pytest.raises(ConfigError, match="fewer than k"):
        beam_search(model, src, trie, beam_size=10, k=9)
    items, _ = beam_search(model, src, trie, beam_size=8, k=8)  # exactly the whole catalogue
    assert all(sorted(row) == list(range(8)) for row in items.tolist())


def test_given_greedy_paths_then_invalid_rate_matches_brute_force() -> None:
    model, src, codes, trie = setup(6, n_items=30, users=8)
    model.eval()
    valid = {tuple(c) for c in codes.tolist()}
    prefix = torch.full((len(src), 1), BOS)
    with torch.no_grad():
        for _ in range(codes.shape[1]):
            prefix = torch.cat([prefix, model(src, prefix)[:, -1].argmax(-1, keepdim=True)], 1)
    expected = np.mean([tuple(row) not in valid for row in prefix[:, 1:].tolist()])
    assert unconstrained_invalid_rate(model, src, trie) == pytest.approx(expected)
