"""Specification of rank_targets (full ranking from scores) and rank_in_topk (generated lists)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from flexcode_bench.errors import ConfigError
from flexcode_bench.evaluation import (
    EvaluationInputError,
    per_user_metrics,
    rank_in_topk,
    rank_targets,
)


def scorer(scores: np.ndarray):
    """A score_batch over a fixed matrix, as a model with precomputed scores would provide."""
    return lambda rows: scores[rows]


def brute_force_rank(scores: np.ndarray, target: int, history: set[int], *, mask: bool, pessimistic: bool) -> int:
    """Reference: fully sort one user's catalogue, ties placing the target last (pessimistic) or first."""
    if mask and target in history:
        return 0
    s = [(-np.inf if mask and j in history else float(v)) for j, v in enumerate(scores)]
    tie_key = (lambda j: j == target) if pessimistic else (lambda j: j != target)
    order = sorted(range(len(s)), key=lambda j: (-s[j], tie_key(j)))
    return order.index(target) + 1


@st.composite
def ranking_problems(draw):
    """Small catalogues with integer-valued scores (so ties are common), targets and histories."""
    n_users = draw(st.integers(1, 12))
    n_items = draw(st.integers(1, 9))
    scores = draw(hnp.arrays(np.float64, (n_users, n_items), elements=st.integers(-2, 2).map(float)))
    targets = np.array(draw(st.lists(st.integers(0, n_items - 1), min_size=n_users, max_size=n_users)))
    histories = [
        np.array(draw(st.lists(st.integers(0, n_items - 1), max_size=n_items)), dtype=np.int64) for _ in range(n_users)
    ]
    return scores, targets, histories


# rank_targets ---------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(problem=ranking_problems(), mask=st.booleans(), pessimistic=st.booleans(), chunk=st.integers(1, 5))
def test_rank_targets_equals_brute_force_full_sort(problem, mask, pessimistic, chunk):
    scores, targets, histories = problem
    policy = "pessimistic" if pessimistic else "optimistic"
    ranks = rank_targets(
        scorer(scores),
        targets,
        n_items=scores.shape[1],
        histories=histories,
        mask_history=mask,
        chunk_size=chunk,
        tie_policy=policy,
    )
    expected = [
        brute_force_rank(scores[u], int(targets[u]), set(histories[u].tolist()), mask=mask, pessimistic=pessimistic)
        for u in range(len(targets))
    ]
    assert ranks.dtype == np.int64
    assert ranks.tolist() == expected


def test_tied_scores_never_count_as_hits():
    n_users, n_items = 30, 50
    targets = np.arange(n_users) % n_items
    constant = scorer(np.zeros((n_users, n_items), dtype=np.float32))

    pessimistic = rank_targets(constant, targets, n_items=n_items)  # the default policy
    assert (pessimistic == n_items).all()
    assert (per_user_metrics(pessimistic)["recall@20"] == 0).all()

    optimistic = rank_targets(constant, targets, n_items=n_items, tie_policy="optimistic")
    assert (optimistic == 1).all()
    assert (per_user_metrics(optimistic)["recall@20"] == 1).all()


def test_tie_policy_counts_every_other_tied_item():
    # Target item 1 ties with items 0 and 3; item 2 is strictly better.
    scores = np.array([[0.5, 0.5, 0.9, 0.5, 0.1]])
    assert rank_targets(scorer(scores), np.array([1]), n_items=5).tolist() == [4]
    assert rank_targets(scorer(scores), np.array([1]), n_items=5, tie_policy="optimistic").tolist() == [2]


def test_given_any_chunk_size_then_ranks_are_bit_identical():
    rng = np.random.default_rng(0)
    n_users, n_items = 100, 40
    # Rounded scores: many ties, so the tie counting is exercised across chunk boundaries.
    scores = np.round(rng.normal(size=(n_users, n_items)), 1).astype(np.float32)
    targets = rng.integers(0, n_items, n_users)
    histories = [rng.choice(n_items, size=rng.integers(0, 10), replace=False) for _ in range(n_users)]
    results = {
        (chunk, mask, policy): rank_targets(
            scorer(scores),
            targets,
            n_items=n_items,
            histories=histories,
            mask_history=mask,
            chunk_size=chunk,
            tie_policy=policy,
        )
        for chunk in (1, 7, 4096)
        for mask in (False, True)
        for policy in ("pessimistic", "optimistic")
    }
    for (chunk, mask, policy), ranks in results.items():
        assert np.array_equal(ranks, results[(4096, mask, policy)]), (chunk, mask, policy)


def test_score_batch_receives_consecutive_int64_rows_in_order():
    seen: list[np.ndarray] = []

    def record(rows: np.ndarray) -> np.ndarray:
        seen.append(rows)
        return np.zeros((len(rows), 3))

    rank_targets(record, np.zeros(10, dtype=np.int64), n_items=3, chunk_size=4)
    assert [r.tolist() for r in seen] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(r.dtype == np.int64 for r in seen)


def test_given_no_targets_then_score_batch_is_never_called():
    def fail(rows):
        raise AssertionError("called")

    assert rank_targets(fail, np.array([], dtype=np.int64), n_items=5).shape == (0,)


# history masking ------------------------------------------------------------------------


def test_masking_a_history_item_that_outranks_the_target_removes_it():
    scores = np.array([[0.9, 0.1, 0.5, 0.2]])  # item 0 outranks the target, item 2
    history = [np.array([0])]
    unmasked = rank_targets(scorer(scores), np.array([2]), n_items=4, histories=history)
    masked = rank_targets(scorer(scores), np.array([2]), n_items=4, histories=history, mask_history=True)
    assert unmasked.tolist() == [2]  # mask_history=False (default) leaves ranks untouched
    assert masked.tolist() == [1]


def test_a_target_inside_the_history_gets_rank_0():
    scores = np.array([[0.9, 0.1, 0.5], [0.9, 0.1, 0.5]])
    ranks = rank_targets(
        scorer(scores), np.array([0, 0]), n_items=3, histories=[np.array([0, 2]), np.array([2])], mask_history=True
    )
    assert ranks.tolist() == [0, 1]
    assert per_user_metrics(ranks)["recall@5"].tolist() == [0.0, 1.0]


def test_masking_does_not_modify_the_models_scores():
    scores = np.array([[0.9, 0.1, 0.5]])
    rank_targets(scorer(scores), np.array([1]), n_items=3, histories=[np.array([0])], mask_history=True)
    assert scores.tolist() == [[0.9, 0.1, 0.5]]


def test_masking_needs_one_history_per_target():
    scores = scorer(np.zeros((2, 3)))
    with pytest.raises(ConfigError, match="needs histories"):
        rank_targets(scores, np.array([0, 1]), n_items=3, mask_history=True)
    with pytest.raises(ConfigError, match="1 entries but targets has 2"):
        rank_targets(scores, np.array([0, 1]), n_items=3, histories=[np.array([0])], mask_history=True)
    with pytest.raises(EvaluationInputError, match=r"histories\[1\] contains 7"):
        rank_targets(scores, np.array([0, 1]), n_items=3, histories=[np.array([0]), np.array([7])], mask_history=True)


# bad model output -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_plus_inf_scores_raise_naming_the_row(bad):
    scores = np.zeros((6, 4))
    scores[4, 2] = bad
    with pytest.raises(EvaluationInputError, match=r"row 4 \(item 2\)"):
        rank_targets(scorer(scores), np.zeros(6, dtype=np.int64), n_items=4, chunk_size=3)


def test_minus_inf_scores_are_allowed():
    scores = np.array([[-np.inf, 0.0, -np.inf]])
    assert rank_targets(scorer(scores), np.array([1]), n_items=3).tolist() == [1]


def test_wrong_shape_raises_naming_the_rows():
    def short(rows):
        return np.zeros((len(rows), 3))  # one item short of the catalogue

    with pytest.raises(EvaluationInputError, match=r"shape \(3, 3\) for rows 0\.\.2 \(first row 0\).*\(3, 4\)"):
        rank_targets(short, np.zeros(5, dtype=np.int64), n_items=4, chunk_size=3)

    def drops_a_row_in_the_second_chunk(rows):
        return np.zeros((len(rows) if rows[0] == 0 else len(rows) - 1, 4))

    with pytest.raises(EvaluationInputError, match=r"shape \(1, 4\) for rows 3\.\.4 \(first row 3\)"):
        rank_targets(drops_a_row_in_the_second_chunk, np.zeros(5, dtype=np.int64), n_items=4, chunk_size=3)


def test_integer_scores_and_non_arrays_are_rejected():
    with pytest.raises(EvaluationInputError, match="dtype int64.*first row 0"):
        rank_targets(lambda rows: np.zeros((len(rows), 4), dtype=np.int64), np.zeros(2, np.int64), n_items=4)
    with pytest.raises(EvaluationInputError, match="returned list"):
        rank_targets(lambda rows: [[0.0] * 4] * len(rows), np.zeros(2, np.int64), n_items=4)


def test_invalid_arguments_raise_config_errors():
    scores = scorer(np.zeros((2, 3)))
    with pytest.raises(ConfigError, match="did you mean 'pessimistic'"):
        rank_targets(scores, np.array([0, 1]), n_items=3, tie_policy="pesimistic")
    with pytest.raises(ConfigError, match="chunk_size"):
        rank_targets(scores, np.array([0, 1]), n_items=3, chunk_size=0)
    with pytest.raises(EvaluationInputError, match=r"targets\[1\] = 3"):
        rank_targets(scores, np.array([0, 3]), n_items=3)


def test_evaluation_never_imports_torch():
    code = "import sys, flexcode_bench.evaluation; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# rank_in_topk ---------------------------------------------------------------------------


def test_rank_in_topk_gives_1_based_position_or_0():
    topk = np.array([[3, 1, 4], [0, 2, 1], [5, 4, 3]])
    assert rank_in_topk(topk, np.array([3, 1, 0]), n_items=6).tolist() == [1, 3, 0]


def test_rank_in_topk_accepts_trailing_padding_and_never_matches_it():
    topk = np.array([[2, -1, -1], [-1, -1, -1], [1, 0, 2]])
    ranks = rank_in_topk(topk, np.array([2, 0, 2]), n_items=3)
    assert ranks.dtype == np.int64
    assert ranks.tolist() == [1, 0, 3]


def test_rank_in_topk_target_minus_one_is_rejected_not_matched():
    with pytest.raises(EvaluationInputError, match=r"targets\[0\] = -1"):
        rank_in_topk(np.array([[2, -1]]), np.array([-1]), n_items=3)


@pytest.mark.parametrize(
    ("topk", "problem"),
    [
        ([[0, 1], [1, 1]], "row 1 repeats an item id"),
        ([[0, 1], [2, 5]], r"row 1 has an id outside \[0, 5\)"),
        ([[-2, 1], [0, 1]], r"row 0 has an id outside \[0, 5\)"),
        ([[0, 1], [-1, 3]], "row 1 has -1 padding before a real id"),
    ],
)
def test_rank_in_topk_rejects_invalid_lists(topk, problem):
    with pytest.raises(EvaluationInputError, match=problem):
        rank_in_topk(np.array(topk), np.array([0, 1]), n_items=5)


def test_rank_in_topk_checks_shapes():
    with pytest.raises(EvaluationInputError, match="one row per target"):
        rank_in_topk(np.array([[0, 1]]), np.array([0, 1]), n_items=5)
    assert rank_in_topk(np.empty((2, 0), dtype=np.int64), np.array([0, 1]), n_items=5).tolist() == [0, 0]


@settings(max_examples=100, deadline=None)
@given(data=st.data(), n_items=st.integers(1, 20), k=st.integers(1, 8))
def test_rank_in_topk_equals_list_index(data, n_items, k):
    n_users = data.draw(st.integers(1, 6))
    rows, targets = [], []
    for _ in range(n_users):
        items = data.draw(st.lists(st.integers(0, n_items - 1), unique=True, max_size=min(k, n_items)))
        rows.append(items + [-1] * (k - len(items)))
        targets.append(data.draw(st.integers(0, n_items - 1)))
    ranks = rank_in_topk(np.array(rows, dtype=np.int64), np.array(targets), n_items=n_items)
    expected = [row.index(t) + 1 if t in row else 0 for row, t in zip(rows, targets)]
    assert ranks.tolist() == expected
