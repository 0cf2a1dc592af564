"""Turn model output into the 1-based rank of each user's target item (DESIGN.md §3).

Two entry points, one per kind of model:

- :func:`rank_targets` for scoring models (SASRec, RecBole models): full ranking of the target over
  the whole catalogue from a score matrix, chunked over users so memory stays bounded.
- :func:`rank_in_topk` for generative models (TIGER, FlexCode): the target's position in the
  top-K list the model generated, 0 when absent.

Rank 0 always means "can never be a hit"; every metric treats it as a miss.
This module knows no model and never imports torch: it only sees numpy arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, get_args

import numpy as np

from flexcode_bench.errors import ConfigError, EvaluationInputError
from flexcode_bench.registry import did_you_mean

TiePolicy = Literal["pessimistic", "optimistic"]
TIE_POLICIES: tuple[str, ...] = get_args(TiePolicy)
PADDING_ID = -1


def _check_positive_int(value: object, name: str) -> int:
    # bool is an int subclass; `n_items=True` is a bug, not 1.
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_id_vector(values: object, name: str, n_items: int) -> np.ndarray:
    """A 1-D integer array of item ids in [0, n_items), returned as int64."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise EvaluationInputError(f"{name} must be a 1-D array of item ids, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise EvaluationInputError(
            f"{name} must hold integer item ids, got dtype {arr.dtype}",
            hint="convert with .astype(np.int64) after checking the values are whole numbers",
        )
    arr = arr.astype(np.int64, copy=False)
    bad = np.flatnonzero((arr < 0) | (arr >= n_items))
    if bad.size:
        raise EvaluationInputError(
            f"{name}[{bad[0]}] = {arr[bad[0]]} is not an item id in [0, {n_items}) ({bad.size} such entries)"
        )
    return arr


# LOW LEVEL =============================================================================


def _checked_scores(raw: object, rows: np.ndarray, n_items: int) -> np.ndarray:
    """Validate one chunk returned by ``score_batch``; errors name the first bad row of ``targets``."""
    span = f"rows {rows[0]}..{rows[-1]}"
    if not isinstance(raw, np.ndarray):
        raise EvaluationInputError(
            f"score_batch returned {type(raw).__name__} for {span}; expected a numpy array",
            hint="return scores.detach().cpu().numpy() from a torch model",
        )
    if raw.shape != (len(rows), n_items):
        raise EvaluationInputError(
            f"score_batch returned shape {raw.shape} for {span} (first row {rows[0]}); "
            f"expected ({len(rows)}, {n_items}) = (rows in the chunk, n_items)",
            hint="score the FULL catalogue for every requested row, in the order of the rows given",
        )
    # Integer output is refused on purpose: it is usually top-K item ids returned by mistake.
    if not np.issubdtype(raw.dtype, np.floating):
        raise EvaluationInputError(
            f"score_batch returned dtype {raw.dtype} for {span} (first row {rows[0]}); expected floating-point scores",
            hint="for a model that only returns ranked item ids, use rank_in_topk instead",
        )
    # -inf is a legitimate "never recommend"; NaN and +inf have no defined order.
    bad = np.isnan(raw) | np.isposinf(raw)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise EvaluationInputError(
            f"score_batch returned {raw[r, c]} for row {rows[r]} (item {c}); "
            f"{int(bad.sum())} NaN/+inf scores in {span}"
        )
    return raw


def _history_mask(
    histories: Sequence[np.ndarray], rows: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """(chunk-local row, item) coordinates of every history item of ``rows``."""
    parts: list[np.ndarray] = []
    for row in rows:
        h = np.asarray(histories[row])
        if h.ndim != 1 or (h.size and not np.issubdtype(h.dtype, np.integer)):
            raise EvaluationInputError(
                f"histories[{row}] must be a 1-D integer array of item ids, got shape {h.shape}, dtype {h.dtype}"
            )
        parts.append(h.astype(np.int64, copy=False))
    lengths = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    local_rows = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
    items = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
    bad = np.flatnonzero((items < 0) | (items >= n_items))
    if bad.size:
        row = rows[local_rows[bad[0]]]
        raise EvaluationInputError(f"histories[{row}] contains {items[bad[0]]}, not an item id in [0, {n_items})")
    return local_rows, items


# HIGH LEVEL ============================================================================


def rank_targets(
    score_batch: Callable[[np.ndarray], np.ndarray],
    targets: np.ndarray,
    *,
    n_items: int,
    histories: Sequence[np.ndarray] | None = None,
    mask_history: bool = False,
    chunk_size: int = 1024,
    tie_policy: TiePolicy = "pessimistic",
) -> np.ndarray:
    """Full-catalogue 1-based rank of each target item.

    Args:
        score_batch: called with an int64 array of row indices into ``targets`` (consecutive, in
            order, at most ``chunk_size`` of them); returns floating scores of shape
            ``[len(rows), n_items]`` over the FULL catalogue, higher = better. ``-inf`` is allowed;
            NaN, ``+inf``, a wrong shape or a non-float dtype raise :class:`EvaluationInputError`
            naming the first bad row.
        targets: int array ``[U]`` of target item ids in ``[0, n_items)``.
        n_items: catalogue size.
        histories: per-row arrays of item ids the user has interacted with; only read when
            ``mask_history`` is True.
        mask_history: give every history item a score of ``-inf`` before ranking. A target that is
            itself in the history is masked too and gets rank 0 (it can never be a hit) — this is
            recorded by the caller together with the flag.
        chunk_size: rows scored at once; memory is bounded by ``chunk_size × n_items``. Results are
            bit-identical for every chunk size.
        tie_policy: ``"pessimistic"`` (default): ``rank = 1 + #(score > s_t) + #(other items with
            score == s_t)``, so ties never make a hit and a constant-score model gets rank
            ``n_items``. ``"optimistic"``: ``rank = 1 + #(score > s_t)``.

    Returns:
        int64 array ``[U]`` of ranks in ``[1, n_items]``, or 0 for a masked target.

    Example:
        >>> scores = np.array([[0.1, 0.9, 0.5], [0.2, 0.2, 0.2]])
        >>> rank_targets(lambda rows: scores[rows], np.array([2, 0]), n_items=3)
        array([2, 3])
    """
    n_items = _check_positive_int(n_items, "n_items")
    chunk_size = _check_positive_int(chunk_size, "chunk_size")
    if tie_policy not in TIE_POLICIES:
        raise ConfigError(f"unknown tie_policy {tie_policy!r}{did_you_mean(str(tie_policy), list(TIE_POLICIES))}")
    targets = _check_id_vector(targets, "targets", n_items)
    masked: Sequence[np.ndarray] | None = None
    if mask_history:
        if histories is None:
            raise ConfigError("mask_history=True needs histories (one array of item ids per target)")
        if len(histories) != len(targets):
            raise ConfigError(f"histories has {len(histories)} entries but targets has {len(targets)}")
        masked = histories

    ranks = np.empty(len(targets), dtype=np.int64)
    for start in range(0, len(targets), chunk_size):
        rows = np.arange(start, min(start + chunk_size, len(targets)), dtype=np.int64)
        scores = _checked_scores(score_batch(rows), rows, n_items)
        chunk_targets = targets[rows]
        local = np.arange(len(rows))
        target_in_history = np.zeros(len(rows), dtype=bool)
        if masked is not None:
            h_rows, h_items = _history_mask(masked, rows, n_items)
            # Copy: score_batch may hand out a view of an array its caller still uses.
            scores = scores.copy()
            scores[h_rows, h_items] = -np.inf
            target_in_history[h_rows[h_items == chunk_targets[h_rows]]] = True
        target_scores = scores[local, chunk_targets][:, None]
        rank = 1 + np.count_nonzero(scores > target_scores, axis=1)
        if tie_policy == "pessimistic":
            # The target always equals itself; every *other* tied item ranks above it.
            rank += np.count_nonzero(scores == target_scores, axis=1) - 1
        ranks[rows] = np.where(target_in_history, 0, rank)
    return ranks


def rank_in_topk(topk: np.ndarray, targets: np.ndarray, *, n_items: int) -> np.ndarray:
    """1-based position of each target in a generated top-K list, 0 when absent.

    Args:
        topk: int array ``[U, K]`` of distinct item ids, best first. ``-1`` pads the END of a row
            when the model returned fewer than K items; padding never matches a target.
        targets: int array ``[U]`` of target item ids in ``[0, n_items)``.
        n_items: catalogue size.

    Raises:
        EvaluationInputError: an id outside ``[0, n_items)`` other than trailing ``-1``, padding
            followed by a real id, or a duplicate id within a row (naming the first bad row) —
            invalid or repeated items must be filtered by the model, never silently counted.

    Example:
        >>> rank_in_topk(np.array([[4, 2, -1], [1, 0, 3]]), np.array([2, 5]), n_items=6)
        array([2, 0])
    """
    n_items = _check_positive_int(n_items, "n_items")
    targets = _check_id_vector(targets, "targets", n_items)
    topk = np.asarray(topk)
    if topk.ndim != 2 or topk.shape[0] != len(targets):
        raise EvaluationInputError(f"topk must have shape [{len(targets)}, K] (one row per target), got {topk.shape}")
    if topk.size and not np.issubdtype(topk.dtype, np.integer):
        raise EvaluationInputError(f"topk must hold integer item ids, got dtype {topk.dtype}")
    topk = topk.astype(np.int64, copy=False)
    if topk.shape[1] == 0:
        return np.zeros(len(targets), dtype=np.int64)

    def fail(bad_rows: np.ndarray, problem: str) -> None:
        row = int(np.flatnonzero(bad_rows)[0])
        raise EvaluationInputError(
            f"topk row {row} {problem}: {topk[row].tolist()} ({int(bad_rows.sum())} bad rows)",
            hint="generated lists must hold distinct catalogue ids, padded with -1 at the end only",
        )

    out_of_range = ((topk < PADDING_ID) | (topk >= n_items)).any(axis=1)
    if out_of_range.any():
        fail(out_of_range, f"has an id outside [0, {n_items}) other than -1 padding")
    pad = topk == PADDING_ID
    # A real id right after a pad means padding is not trailing.
    inner_pad = (pad[:, :-1] & ~pad[:, 1:]).any(axis=1)
    if inner_pad.any():
        fail(inner_pad, "has -1 padding before a real id")
    ordered = np.sort(topk, axis=1)
    duplicate = ((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] != PADDING_ID)).any(axis=1)
    if duplicate.any():
        fail(duplicate, "repeats an item id")

    match = topk == targets[:, None]
    # Targets are validated to be >= 0, so -1 padding can never match.
    return np.where(match.any(axis=1), match.argmax(axis=1) + 1, 0).astype(np.int64)
