"""Model-agnostic evaluation: ranks from scores or generated lists, per-user metrics, popularity buckets.

Nothing here imports torch or knows a model; it sees numpy score matrices or ranked id lists.
"""

from __future__ import annotations

from flexcode_bench.errors import EvaluationInputError
from flexcode_bench.evaluation.buckets import (
    BUCKETS,
    BucketScheme,
    PopularityBuckets,
    popularity_buckets,
)
from flexcode_bench.evaluation.metrics import KS, METRICS, mean_metrics, metric_columns, per_user_metrics
from flexcode_bench.evaluation.ranking import (
    TiePolicy,
    rank_in_topk,
    rank_targets,
)

__all__ = [
    "BUCKETS",
    "KS",
    "METRICS",
    "BucketScheme",
    "EvaluationInputError",
    "PopularityBuckets",
    "TiePolicy",
    "mean_metrics",
    "metric_columns",
    "per_user_metrics",
    "popularity_buckets",
    "rank_in_topk",
    "rank_targets",
]
