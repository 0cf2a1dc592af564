"""Per-user ranking metrics from target ranks (DESIGN.md §3).

Every metric is computed **per user** and kept per user: means, confidence intervals, popularity
buckets and significance tests all derive from these arrays. With one target per user,
Recall@K equals HR@K.

A rank is the 1-based position of the user's single target; 0 means a miss that can never be a
hit (absent from a generated list, or masked as a history item).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from flexcode_bench.config import KS
from flexcode_bench.errors import ConfigError, EvaluationInputError

METRICS: tuple[str, ...] = ("recall", "ndcg", "mrr")


def _check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    ks = tuple(ks)
    if not ks:
        raise ConfigError("ks must list at least one cut-off K")
    for k in ks:
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError(f"every K must be a positive integer, got {k!r} in ks={ks!r}")
    if len(set(ks)) != len(ks):
        raise ConfigError(f"ks has repeated cut-offs: {ks!r}")
    return tuple(int(k) for k in ks)


def metric_columns(ks: Sequence[int] = KS) -> list[str]:
    """Column names in storage order, metric-major then K: ``recall@5, recall@10, …, mrr@20``."""
    ks = _check_ks(ks)
    return [f"{metric}@{k}" for metric in METRICS for k in ks]


def per_user_metrics(ranks: np.ndarray, ks: Sequence[int] = KS) -> dict[str, np.ndarray]:
    """Recall@K, NDCG@K and MRR@K of every user from the rank of their target.

    For a hit (``1 <= rank <= K``): recall = 1, ndcg = ``1 / log2(rank + 1)``, mrr = ``1 / rank``;
    otherwise all three are 0. Rank 0 is always a miss.

    Args:
        ranks: int array ``[U]``, 1-based ranks with 0 for a miss (as returned by
            :func:`~flexcode_bench.evaluation.ranking.rank_targets` or ``rank_in_topk``).
        ks: cut-offs, default ``(5, 10, 20)``. K may exceed a generated list's length.

    Returns:
        ``{"recall@5": float64[U], …}`` with keys in :func:`metric_columns` order.

    Example:
        >>> m = per_user_metrics(np.array([1, 2, 0]), ks=(1, 5))
        >>> m["recall@1"].tolist(), m["ndcg@5"].round(3).tolist()
        ([1.0, 0.0, 0.0], [1.0, 0.631, 0.0])
    """
    ks = _check_ks(ks)
    ranks = np.asarray(ranks)
    if ranks.ndim != 1:
        raise EvaluationInputError(f"ranks must be a 1-D array (one rank per user), got shape {ranks.shape}")
    if ranks.size and not np.issubdtype(ranks.dtype, np.integer):
        raise EvaluationInputError(
            f"ranks must be integers (0 = miss), got dtype {ranks.dtype}",
            hint="a stored rank column with missing values should be filled with 0 and cast to int64",
        )
    ranks = ranks.astype(np.int64, copy=False)
    negative = np.flatnonzero(ranks < 0)
    if negative.size:
        raise EvaluationInputError(f"ranks[{negative[0]}] = {ranks[negative[0]]}; ranks are >= 1, or 0 for a miss")

    hit = ranks > 0
    # Gains at the user's own rank, computed once; the cut-off only decides whether they count.
    ndcg_gain = np.zeros(len(ranks))
    rr_gain = np.zeros(len(ranks))
    ndcg_gain[hit] = 1.0 / np.log2(ranks[hit] + 1.0)
    rr_gain[hit] = 1.0 / ranks[hit]
    within = {k: hit & (ranks <= k) for k in ks}
    gains = {"recall": np.ones(len(ranks)), "ndcg": ndcg_gain, "mrr": rr_gain}
    return {f"{metric}@{k}": np.where(within[k], gains[metric], 0.0) for metric in METRICS for k in ks}


def mean_metrics(per_user: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Mean over users of every per-user metric array, keys in the given order.

    Raises:
        EvaluationInputError: no users, or arrays of different lengths (they must describe the
            same users).
    """
    lengths = {name: len(values) for name, values in per_user.items()}
    if not lengths:
        raise EvaluationInputError("no metrics to average")
    if len(set(lengths.values())) != 1:
        raise EvaluationInputError(
            f"per-user metric arrays differ in length (they must cover the same users): {lengths}"
        )
    if next(iter(lengths.values())) == 0:
        raise EvaluationInputError("cannot average metrics over zero users")
    return {name: float(np.mean(np.asarray(values, dtype=np.float64))) for name, values in per_user.items()}
