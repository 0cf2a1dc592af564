"""A small sample of items per popularity bucket with their text and CF/semantic split, for reports.

``report`` reads results only, never the prepared data, so a FlexCode run keeps this sample in its
manifest (``diagnostics.allocation_sample``); the HTML report shows it as "which items got which split".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BUCKETS = ("head", "torso", "tail", "cold")
TEXT_CHARS = 160  # enough to recognise an item; the whole sample stays a few kB


def allocation_sample(
    texts: Sequence[str],
    splits: np.ndarray,
    cf_share: np.ndarray,
    buckets: np.ndarray,
    train_counts: np.ndarray,
    levels: int,
    per_bucket: int = 6,
) -> dict[str, list[dict]]:
    """Per bucket, ``per_bucket`` items spread evenly over the bucket's popularity range, most popular first.

    Each item: ``item`` (dense id), ``text`` (cut to 160 characters), ``train_count``, ``cf_tokens`` (k),
    ``semantic_tokens`` (L − k) and ``cf_share`` (the router's α, or k/L without a router).
    Deterministic: the same run gives the same sample.
    """
    sample: dict[str, list[dict]] = {}
    for bucket in BUCKETS:
        members = np.flatnonzero(np.asarray(buckets) == bucket)
        if not len(members):
            continue
        members = members[np.argsort(-np.asarray(train_counts)[members], kind="stable")]
        picks = members[np.unique(np.linspace(0, len(members) - 1, min(per_bucket, len(members))).round().astype(int))]
        sample[bucket] = [
            {
                "item": int(i),
                "text": _cut(str(texts[i])),
                "train_count": int(train_counts[i]),
                "cf_tokens": int(splits[i]),
                "semantic_tokens": int(levels - splits[i]),
                "cf_share": round(float(cf_share[i]), 4),
            }
            for i in picks
        ]
    return sample


def _cut(text: str) -> str:
    return text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1].rstrip() + "…"
