"""Specification of the per-user metrics: Recall@K, NDCG@K, MRR@K from 1-based ranks (0 = miss)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexcode_bench.errors import ConfigError
from flexcode_bench.evaluation import (
    KS,
    METRICS,
    EvaluationInputError,
    mean_metrics,
    metric_columns,
    per_user_metrics,
)


def reference(rank: int, k: int) -> dict[str, float]:
    """Textbook definitions for a single relevant item at ``rank`` (0 = not retrieved)."""
    hit = 1 <= rank <= k
    return {
        "recall": 1.0 if hit else 0.0,
        "ndcg": 1.0 / math.log2(rank + 1) if hit else 0.0,
        "mrr": 1.0 / rank if hit else 0.0,
    }


@settings(max_examples=200, deadline=None)
@given(
    ranks=st.lists(st.integers(0, 60), max_size=40),
    ks=st.lists(st.integers(1, 80), min_size=1, max_size=4, unique=True),  # K may exceed every rank
)
def test_metrics_equal_brute_force_reference(ranks, ks):
    result = per_user_metrics(np.array(ranks, dtype=np.int64), ks=ks)
    assert list(result) == metric_columns(ks)
    for metric in METRICS:
        for k in ks:
            values = result[f"{metric}@{k}"]
            assert values.dtype == np.float64
            np.testing.assert_allclose(values, [reference(r, k)[metric] for r in ranks], rtol=0, atol=1e-15)


def test_hand_checked_values_at_rank_1_rank_2_and_a_miss():
    m = per_user_metrics(np.array([1, 2, 0, 11]), ks=(10,))
    assert m["recall@10"].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert m["ndcg@10"].tolist() == [1.0, 1 / math.log2(3), 0.0, 0.0]
    assert m["mrr@10"].tolist() == [1.0, 0.5, 0.0, 0.0]


def test_default_columns_are_metric_major_then_k():
    assert KS == (5, 10, 20)
    assert metric_columns() == [
        "recall@5", "recall@10", "recall@20",
        "ndcg@5", "ndcg@10", "ndcg@20",
        "mrr@5", "mrr@10", "mrr@20",
    ]  # fmt: skip
    assert list(per_user_metrics(np.array([3]))) == metric_columns()


def test_empty_ranks_give_empty_arrays():
    assert all(v.shape == (0,) for v in per_user_metrics(np.array([], dtype=np.int64)).values())


@pytest.mark.parametrize(
    ("ranks", "message"),
    [
        (np.array([1, -1]), r"ranks\[1\] = -1"),
        (np.array([1.0, 2.0]), "must be integers"),
        (np.array([[1, 2]]), "1-D"),
    ],
)
def test_invalid_ranks_are_rejected(ranks, message):
    with pytest.raises(EvaluationInputError, match=message):
        per_user_metrics(ranks)


@pytest.mark.parametrize("ks", [(), (0,), (5, 5), (2.5,), (True,)])
def test_invalid_cutoffs_are_rejected(ks):
    with pytest.raises(ConfigError):
        per_user_metrics(np.array([1]), ks=ks)


def test_mean_metrics_average_per_user_values_in_order():
    per_user = per_user_metrics(np.array([1, 2, 0, 30]), ks=(10,))
    means = mean_metrics(per_user)
    assert list(means) == list(per_user)
    assert means["recall@10"] == 0.5
    assert means["mrr@10"] == pytest.approx((1 + 0.5) / 4)
    assert all(isinstance(v, float) for v in means.values())


def test_mean_metrics_refuses_empty_or_mismatched_users():
    with pytest.raises(EvaluationInputError, match="zero users"):
        mean_metrics({"recall@5": np.array([])})
    with pytest.raises(EvaluationInputError, match="differ in length"):
        mean_metrics({"recall@5": np.array([1.0]), "ndcg@5": np.array([1.0, 0.0])})
    with pytest.raises(EvaluationInputError, match="no metrics"):
        mean_metrics({})


def test_malformed_evaluator_input_raises_the_shared_error_type_which_is_also_a_value_error():
    from flexcode_bench.errors import EvaluationInputError, FlexbenchError

    with pytest.raises(EvaluationInputError) as caught:
        per_user_metrics(np.array([[1, 2]]))
    assert isinstance(caught.value, FlexbenchError) and isinstance(caught.value, ValueError)
