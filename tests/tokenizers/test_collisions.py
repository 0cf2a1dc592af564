"""Collision tokens and global item codes: uniqueness, decoding, disjoint block ranges."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexcode_bench.tokenizers.collisions import ItemCodes, assign_collision_tokens, build_item_codes
from flexcode_bench.tokenizers.vocabulary import N_SPECIAL, Vocabulary

# Six items: (1, 2) three times, (3, 4) twice, (5, 6) once.
HAND = np.array([[1, 2], [1, 2], [3, 4], [1, 2], [3, 4], [5, 6]])


def tiger_vocabulary(levels: int = 2, size: int = 8) -> Vocabulary:
    vocab = Vocabulary()
    for level in range(levels):
        vocab.add(("semantic", level), size)
    return vocab


def assert_unique_and_decodable(codes: ItemCodes) -> None:
    lookup = codes.item_of_code()
    assert len({tuple(row) for row in codes.tokens.tolist()}) == codes.n_items
    assert all(lookup[tuple(row)] == item for item, row in enumerate(codes.tokens.tolist()))


def test_identical_codes_get_0_1_2_in_item_order_and_unique_codes_get_0():
    assert assign_collision_tokens(HAND).tolist() == [0, 1, 0, 2, 1, 0]
    assert assign_collision_tokens(np.array([[0, 1], [1, 0], [2, 2]])).tolist() == [0, 0, 0]
    assert assign_collision_tokens(np.array([4, 4, 2, 4])).tolist() == [0, 1, 0, 2]  # 1-D codes


def test_collision_stats_on_a_hand_example():
    vocab = tiger_vocabulary()
    codes = build_item_codes([(("semantic", 0), HAND[:, 0]), (("semantic", 1), HAND[:, 1])], vocab)
    assert codes.collision_stats() == {
        "n_items": 6,
        "n_unique_codes": 3,
        "collision_rate": 5 / 6,
        "n_colliding_groups": 2,
        "largest_group": 3,
        "max_collision_index": 2,
    }
    assert codes.depth == 3
    assert vocab.blocks["collision"] == (N_SPECIAL + 16, 3)  # size = max collision index + 1
    assert codes.vocabulary is vocab  # extended in place
    assert [vocab.block_of(t) for t in codes.tokens[3]] == [(("semantic", 0), 1), (("semantic", 1), 2), ("collision", 2)]
    assert_unique_and_decodable(codes)


def test_given_no_collisions_then_collision_block_has_one_id():
    codes = build_item_codes([("a", np.arange(5)), ("b", np.arange(5)[::-1])])
    stats = codes.collision_stats()
    assert stats["collision_rate"] == 0.0 and stats["largest_group"] == 1 and stats["max_collision_index"] == 0
    assert codes.vocabulary.blocks["collision"][1] == 1
    assert codes.vocabulary.blocks["a"][1] == 5  # missing blocks sized to the largest code + 1


def test_given_mixed_blocks_then_equal_local_codes_from_different_codebooks_do_not_collide():
    # FlexCode layout, L = 2: item 0 is CF-only, item 1 CF then semantic, item 2 semantic-only.
    vocab = Vocabulary()
    for codebook in ("cf", "semantic"):
        for level in range(2):
            vocab.add((codebook, level), 4)
    first = [("cf", 0), ("cf", 0), ("semantic", 0)]
    second = np.empty(3, dtype=object)
    second[:] = [("cf", 1), ("semantic", 0), ("semantic", 1)]
    codes = build_item_codes([(first, np.array([3, 3, 3])), (second, np.array([1, 1, 1]))], vocab)
    assert codes.collision_stats()["collision_rate"] == 0.0  # same local codes, different blocks
    assert [vocab.block_of(t)[0] for t in codes.tokens[1]] == [("cf", 0), ("semantic", 0), "collision"]
    assert [vocab.block_of(t)[0] for t in codes.tokens[2, :2]] == [("semantic", 0), ("semantic", 1)]
    assert_unique_and_decodable(codes)


def test_given_many_collisions_then_every_full_code_is_unique_and_maps_back():
    rng = np.random.default_rng(0)
    local = rng.integers(0, 3, size=(500, 2))  # only 9 distinct codes for 500 items
    codes = build_item_codes([(("semantic", 0), local[:, 0]), (("semantic", 1), local[:, 1])], tiger_vocabulary())
    assert_unique_and_decodable(codes)
    assert codes.collision_stats()["collision_rate"] == 1.0
    assert codes.item_of_code() is codes.item_of_code()  # built once


def test_given_bad_input_then_errors():
    with pytest.raises(ValueError, match="shape"):
        build_item_codes([("a", np.arange(3)), ("b", np.arange(4))])
    with pytest.raises(ValueError, match="out of range"):
        build_item_codes([(("semantic", 0), np.array([8]))], tiger_vocabulary())
    with pytest.raises(ValueError, match="one name per item"):
        build_item_codes([(["a", "b"], np.arange(3))])
    vocab = Vocabulary()
    vocab.add("collision", 1)
    with pytest.raises(ValueError, match="2 needed"):
        build_item_codes([("a", np.array([0, 0]))], vocab)
    duplicated = ItemCodes(tokens=np.array([[2, 3], [2, 3]]), vocabulary=vocab)
    with pytest.raises(ValueError, match="share a full code"):
        duplicated.item_of_code()


@st.composite
def layouts(draw):
    """Random block sizes, per-position block choices (shared or per item) and codes within range."""
    n_blocks = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(1, 5), min_size=n_blocks, max_size=n_blocks))
    n_items = draw(st.integers(1, 30))
    depth = draw(st.integers(1, 3))
    positions = []
    for _ in range(depth):
        per_item = draw(st.booleans())
        blocks = draw(st.lists(st.integers(0, n_blocks - 1), min_size=n_items if per_item else 1, max_size=n_items if per_item else 1))
        codes = [draw(st.integers(0, sizes[b] - 1)) for b in (blocks if per_item else blocks * n_items)]
        spec = [("block", b) for b in blocks] if per_item else ("block", blocks[0])
        positions.append((spec, np.array(codes), blocks if per_item else blocks * n_items))
    return sizes, positions


@settings(max_examples=60, deadline=None)
@given(layouts(), st.booleans())
def test_property_block_ranges_never_overlap_and_tokens_decode(layout, reserve):
    sizes, positions = layout
    vocab = Vocabulary()
    if reserve:  # full ranges reserved up front, as TIGER/FlexCode do
        for b, size in enumerate(sizes):
            vocab.add(("block", b), size)
    codes = build_item_codes([(spec, local) for spec, local, _ in positions], vocab if reserve else None)
    ranges = sorted(codes.vocabulary.blocks.values())
    assert ranges[0][0] == N_SPECIAL
    assert all(start + size == next_start for (start, size), (next_start, _) in pairwise(ranges))
    for p, (_, local, block_ids) in enumerate(positions):
        decoded = [codes.vocabulary.block_of(int(t)) for t in codes.tokens[:, p]]
        assert decoded == [(("block", b), int(c)) for b, c in zip(block_ids, local)]
    assert_unique_and_decodable(codes)
