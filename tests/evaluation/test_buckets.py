"""Specification of popularity buckets (head / torso / tail / cold) from training counts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexcode_bench.errors import ConfigError
from flexcode_bench.evaluation import BUCKETS, BucketScheme, EvaluationInputError, popularity_buckets

# 10 items; items 3 and 7 have no training interaction.
#   item:   0   1   2  3  4  5  6  7  8  9
COUNTS = np.array([5, 40, 5, 0, 12, 1, 30, 0, 2, 5])


def members(buckets, name):
    return np.flatnonzero(buckets.item_bucket == name).tolist()


def test_share_scheme_on_a_hand_checked_example():
    # 8 non-cold items in order (-count, id): 1(40) 6(30) 4(12) 0(5) 2(5) 9(5) 8(2) 5(1).
    # head = round(0.2*8 = 1.6) = 2 items, head+torso = round(0.5*8) = 4 items, tail = the other 4.
    b = popularity_buckets(COUNTS)
    assert b.scheme == BucketScheme("share", head=0.2, torso=0.3)
    assert members(b, "head") == [1, 6]
    assert members(b, "torso") == [0, 4]  # item 0 beats items 2 and 9 (same count) on its smaller id
    assert members(b, "tail") == [2, 5, 8, 9]
    assert members(b, "cold") == [3, 7]
    assert b.thresholds["head"] == {
        "n_items": 2, "min_train_count": 30, "max_train_count": 40, "interactions": 70,
        "interaction_share": 70 / 100,
    }  # fmt: skip
    assert b.thresholds["torso"]["min_train_count"] == 5
    assert b.thresholds["cold"] == {
        "n_items": 2, "min_train_count": 0, "max_train_count": 0, "interactions": 0, "interaction_share": 0.0,
    }  # fmt: skip


def test_zero_count_items_are_cold_whatever_the_scheme():
    for scheme in (BucketScheme("share"), BucketScheme("coverage"), BucketScheme("share", head=1.0, torso=0.0)):
        b = popularity_buckets(COUNTS, scheme)
        assert members(b, "cold") == [3, 7]
    assert popularity_buckets(np.zeros(4, dtype=np.int64)).item_bucket.tolist() == ["cold"] * 4


def test_coverage_scheme_on_a_hand_checked_example():
    # Total 100 interactions. Interactions covered before each item (in popularity order):
    #   item:    0   1   2   3   4   5   6   7     (8, 9 cold)
    #   count:  50  20  10   8   5   4   2   1
    #   before:  0  50  70  80  88  93  97  99
    # head: before < 80 (the item reaching 80% is head); torso: before < 95; tail: the rest.
    counts = np.array([50, 20, 10, 8, 5, 4, 2, 1, 0, 0])
    b = popularity_buckets(counts, BucketScheme("coverage"))
    assert (b.scheme.head, b.scheme.torso) == (0.8, 0.15)
    assert b.item_bucket.tolist() == ["head"] * 3 + ["torso"] * 3 + ["tail"] * 2 + ["cold"] * 2
    assert b.thresholds["head"]["interaction_share"] == 0.8
    assert b.thresholds["torso"]["interactions"] == 17


def test_of_looks_up_the_bucket_of_each_item():
    b = popularity_buckets(COUNTS)
    assert b.of(np.array([1, 3, 9])).tolist() == ["head", "cold", "tail"]
    assert b.of(np.array([[1], [0]])).shape == (2, 1)
    with pytest.raises(EvaluationInputError, match=r"item id 10 is not in \[0, 10\)"):
        b.of(np.array([0, 10]))


def test_item_bucket_is_read_only():
    b = popularity_buckets(COUNTS)
    with pytest.raises(ValueError):
        b.item_bucket[0] = "tail"


def test_scheme_to_dict_round_trip():
    for scheme in (BucketScheme("share"), BucketScheme("coverage", head=0.5, torso=0.25)):
        data = json.loads(json.dumps(scheme.to_dict()))
        assert BucketScheme.from_dict(data) == scheme


def test_buckets_to_dict_is_json_and_records_scheme_and_thresholds():
    b = popularity_buckets(COUNTS, BucketScheme("coverage"))
    data = json.loads(json.dumps(b.to_dict()))
    assert BucketScheme.from_dict(data["scheme"]) == b.scheme
    assert data["n_items"] == 10 and data["n_interactions"] == 100
    assert data["tie_break"] == "(-train_count, item id)"
    assert list(data["thresholds"]) == list(BUCKETS)
    assert data["thresholds"] == b.thresholds


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "shares"},
        {"name": "share", "head": 0.7, "torso": 0.4},
        {"name": "share", "head": -0.1},
        {"name": "coverage", "torso": True},
    ],
)
def test_invalid_schemes_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        BucketScheme(**kwargs)


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="unknown bucket scheme keys"):
        BucketScheme.from_dict({"name": "share", "haed": 0.2})


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        (np.array([1, -2]), r"train_counts\[1\] = -2"),
        (np.array([1.0, 2.0]), "integer counts"),
        (np.array([], dtype=np.int64), "non-empty"),
    ],
)
def test_invalid_counts_are_rejected(counts, message):
    with pytest.raises(EvaluationInputError, match=message):
        popularity_buckets(counts)


@settings(max_examples=100, deadline=None)
@given(
    counts=st.lists(st.integers(0, 50), min_size=1, max_size=60),
    scheme=st.sampled_from([BucketScheme("share"), BucketScheme("coverage")]),
)
def test_buckets_partition_items_and_respect_popularity_order(counts, scheme):
    counts = np.array(counts, dtype=np.int64)
    b = popularity_buckets(counts, scheme)
    assert sum(t["n_items"] for t in b.thresholds.values()) == len(counts)
    assert set(b.item_bucket.tolist()) <= set(BUCKETS)
    # A more popular item is never in a less popular bucket.
    level = np.array([BUCKETS.index(x) for x in b.item_bucket])
    warm = counts > 0
    more_popular = counts[:, None] > counts[None, :]
    assert not (more_popular & (level[:, None] > level[None, :]) & warm[:, None] & warm[None, :]).any()
    assert (level[~warm] == BUCKETS.index("cold")).all()
