"""PrefixTrie admits exactly the valid codes; its vectorised masks equal brute-force sets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from flexcode_bench.tokenizers.trie import PrefixTrie
from flexcode_bench.tokenizers.vocabulary import N_SPECIAL, Vocabulary

VOCAB = 12  # tokens 2..11 are code tokens; 0/1 (PAD/BOS) never occur in codes


@st.composite
def code_sets(draw: st.DrawFn) -> np.ndarray:
    depth = draw(st.integers(1, 4))
    rows = draw(st.sets(st.tuples(*[st.integers(N_SPECIAL, VOCAB - 1)] * depth), min_size=1, max_size=40))
    rows = list(rows)
    draw(st.randoms()).shuffle(rows)  # item ids are not in lexicographic order
    return np.array(rows, dtype=np.int64)


def walk(trie: PrefixTrie, code: tuple[int, ...]) -> list[int]:
    """Node id after each token of ``code`` (batch of one)."""
    node, path = trie.root(1), []
    for level, token in enumerate(code):
        node = trie.step(level, node, torch.tensor([token]))
        path.append(int(node.item()))
    return path


@settings(max_examples=60, deadline=None)
@given(codes=code_sets())
def test_given_valid_codes_then_each_is_reachable_and_maps_to_its_item(codes: np.ndarray) -> None:
    trie = PrefixTrie(codes, VOCAB)
    nodes = trie.root(len(codes))
    for level in range(trie.depth):  # all items at once, as beam search does
        nodes = trie.step(level, nodes, torch.from_numpy(codes[:, level]))
        assert (nodes >= 0).all()
    assert trie.items(nodes).tolist() == list(range(len(codes)))
    assert all(trie.contains(code.tolist()) for code in codes)


@settings(max_examples=60, deadline=None)
@given(codes=code_sets(), data=st.data())
def test_given_invalid_code_then_rejected_at_first_invalid_step(codes: np.ndarray, data: st.DataObject) -> None:
    trie = PrefixTrie(codes, VOCAB)
    valid = {tuple(c) for c in codes.tolist()}
    prefixes = {c[:n] for c in valid for n in range(trie.depth + 1)}
    code = data.draw(st.tuples(*[st.integers(0, VOCAB - 1)] * trie.depth).filter(lambda c: c not in valid))
    first_bad = next(n for n in range(1, trie.depth + 1) if code[:n] not in prefixes) - 1
    path = walk(trie, code)
    assert all(node >= 0 for node in path[:first_bad])
    assert all(node == -1 for node in path[first_bad:])  # -1 stays -1 afterwards
    assert not trie.contains(code)


@settings(max_examples=60, deadline=None)
@given(codes=code_sets())
def test_given_every_prefix_then_allowed_mask_equals_brute_force_next_tokens(codes: np.ndarray) -> None:
    trie = PrefixTrie(codes, VOCAB)
    valid = [tuple(c) for c in codes.tolist()]
    for level in range(trie.depth):
        prefixes = sorted({c[:level] for c in valid})
        nodes = trie.root(len(prefixes))
        for j in range(level):  # walk all prefixes of this level together
            nodes = trie.step(j, nodes, torch.tensor([p[j] for p in prefixes]))
        mask = trie.allowed(level, nodes)
        assert mask.shape == (len(prefixes), VOCAB) and mask.dtype == torch.bool
        for prefix, row in zip(prefixes, mask):
            expected = {c[level] for c in valid if c[:level] == prefix}
            assert set(row.nonzero().flatten().tolist()) == expected


def test_given_dead_node_then_nothing_is_allowed_and_it_stays_dead() -> None:
    trie = PrefixTrie(np.array([[2, 3], [2, 4]]), VOCAB)
    dead = torch.tensor([-1, 0])
    assert trie.allowed(0, dead)[0].sum() == 0 and trie.allowed(0, dead)[1].sum() == 1
    assert trie.step(0, dead, torch.tensor([2, 2])).tolist() == [-1, 0]
    assert trie.items(torch.tensor([-1, 1])).tolist() == [-1, 1]


def test_given_bad_input_then_clear_errors() -> None:
    with pytest.raises(ValueError, match="unique"):
        PrefixTrie(np.array([[2, 3], [2, 3]]), VOCAB)
    with pytest.raises(ValueError, match=r"\[0, 12\)"):
        PrefixTrie(np.array([[2, 12]]), VOCAB)
    trie = PrefixTrie(np.array([[2, 3]]), VOCAB)
    with pytest.raises(ValueError, match="level"):
        trie.allowed(2, trie.root(1))
    assert not trie.contains([2]) and not trie.contains([2, 3, 4])
    assert trie.step(0, trie.root(2), torch.tensor([99, -5])).tolist() == [-1, -1]  # out of vocabulary


def test_given_beauty_size_catalogue_then_tables_stay_small() -> None:
    """12,101 items, 3 levels x 256 codes + collision token, 2,000 user-hash tokens: a few MB
    (a dense [n_nodes, vocab] int32 child table would be ~260 MB)."""
    rng = np.random.default_rng(0)
    vocab = Vocabulary()
    levels = [vocab.add(("semantic", level), 256) for level in range(3)]
    prefix = rng.integers(0, 256, size=(12_101, 3))
    _, group, counts = np.unique(prefix, axis=0, return_inverse=True, return_counts=True)
    collision = np.zeros(len(prefix), dtype=np.int64)
    seen: dict[int, int] = {}
    for row, g in enumerate(group.ravel()):
        collision[row] = seen.get(g, 0)
        seen[g] = collision[row] + 1
    coll = vocab.add("collision", int(counts.max()))
    vocab.add("user", 2_000)
    codes = np.column_stack([prefix + np.array(levels), collision + coll])
    trie = PrefixTrie(codes, vocab.size)
    assert trie.nbytes() < 5_000_000
    probe = rng.choice(len(codes), 50, replace=False)
    assert all(trie.contains(codes[i].tolist()) for i in probe)
    assert trie.to("cpu") is trie
