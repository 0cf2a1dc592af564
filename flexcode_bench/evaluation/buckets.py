"""Popularity buckets of items from training interactions only (DESIGN.md §3).

Every item gets one of ``head``, ``torso``, ``tail`` or ``cold``:

- **cold**: no training interaction (``train_count == 0``);
- the others are ordered by ``(-train_count, item id)`` — most popular first, ties broken by the
  smaller item id so the assignment is deterministic (tied items may therefore fall on both sides
  of a cut) — and cut by a :class:`BucketScheme`:

  ``share`` (default, head=0.2, torso=0.3): head = the first ``round(0.2·n)`` non-cold items,
  torso = up to ``round(0.5·n)``, tail = the rest, where ``n`` is the number of non-cold items and
  ``round`` rounds halves up. Cumulative cuts make the three sizes sum to ``n``.

  ``coverage`` (head=0.8, torso=0.15): head = the most popular items that together cover the first
  80% of training interactions (the item crossing the 80% line is head), torso = those covering up
  to 95%, tail = the rest.

The scheme and the resulting thresholds are stored with the results (:meth:`PopularityBuckets.to_dict`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from flexcode_bench.errors import ConfigError, EvaluationInputError
from flexcode_bench.registry import did_you_mean

BUCKETS: tuple[str, ...] = ("head", "torso", "tail", "cold")
SchemeName = Literal["share", "coverage"]
SCHEMES: tuple[str, ...] = get_args(SchemeName)
_DEFAULTS: dict[str, tuple[float, float]] = {"share": (0.2, 0.3), "coverage": (0.8, 0.15)}
TIE_BREAK = "(-train_count, item id)"
# Guards round-half-up against binary fractions such as 0.35 * 10 == 3.4999999999999996.
_EPS = 1e-9


@dataclass(frozen=True)
class BucketScheme:
    """How non-cold items are cut into head / torso / tail.

    Attributes:
        name: ``"share"`` — ``head``/``torso`` are fractions of the non-cold *items*;
            ``"coverage"`` — fractions of the training *interactions* the items cover.
        head: head fraction; default 0.2 (share) or 0.8 (coverage).
        torso: torso fraction; default 0.3 (share) or 0.15 (coverage). The tail gets the rest,
            so ``head + torso <= 1``.
    """

    name: SchemeName
    head: float | None = None  # None = the scheme's default, filled in at construction
    torso: float | None = None

    def __post_init__(self) -> None:
        if self.name not in SCHEMES:
            raise ConfigError(f"unknown bucket scheme {self.name!r}{did_you_mean(str(self.name), list(SCHEMES))}")
        fractions = []
        for attr, default in zip(("head", "torso"), _DEFAULTS[self.name]):
            value = getattr(self, attr)
            value = default if value is None else value
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ConfigError(f"bucket scheme {attr} must be a fraction in [0, 1], got {value!r}")
            fractions.append(float(value))
            # Frozen dataclass: the defaults depend on the name, so they are filled in here.
            object.__setattr__(self, attr, float(value))
        if sum(fractions) > 1.0 + _EPS:
            raise ConfigError(
                f"bucket scheme head + torso must be <= 1 (the tail gets the rest), got {fractions[0]} + {fractions[1]}"
            )

    @property
    def cuts(self) -> tuple[float, float]:
        """Cumulative upper bounds of head and torso: ``(head, head + torso)``."""
        return float(self.head or 0.0), float(self.head or 0.0) + float(self.torso or 0.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BucketScheme:
        unknown = set(data) - {"name", "head", "torso"}
        if unknown:
            raise ConfigError(f"unknown bucket scheme keys {sorted(unknown)}; expected name, head, torso")
        if "name" not in data:
            raise ConfigError("a bucket scheme needs a 'name' ('share' or 'coverage')")
        return cls(**data)


@dataclass(frozen=True, eq=False)
class PopularityBuckets:
    """Bucket of every item id, with the scheme and the thresholds it produced.

    Attributes:
        scheme: the scheme used.
        item_bucket: read-only str array ``[n_items]``, the bucket of each item id.
        thresholds: per bucket ``{"n_items", "min_train_count", "max_train_count",
            "interactions", "interaction_share"}`` (min/max are None for an empty bucket).
    """

    scheme: BucketScheme
    item_bucket: np.ndarray
    thresholds: dict[str, dict[str, Any]] = field(default_factory=dict)

    def of(self, items: np.ndarray) -> np.ndarray:
        """Bucket names of ``items`` (e.g. each user's target), same shape as ``items``."""
        items = np.asarray(items)
        n_items = len(self.item_bucket)
        if items.size and not np.issubdtype(items.dtype, np.integer):
            raise EvaluationInputError(f"items must be integer item ids, got dtype {items.dtype}")
        bad = (items < 0) | (items >= n_items)
        if bad.any():
            raise EvaluationInputError(f"item id {items[bad].flat[0]} is not in [0, {n_items})")
        return self.item_bucket[items]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description to store with results (everything but the per-item array)."""
        return {
            "scheme": self.scheme.to_dict(),
            "tie_break": TIE_BREAK,
            "n_items": len(self.item_bucket),
            "n_interactions": sum(t["interactions"] for t in self.thresholds.values()),
            "thresholds": {b: dict(t) for b, t in self.thresholds.items()},
        }


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5 + _EPS)


def popularity_buckets(train_counts: np.ndarray, scheme: BucketScheme = BucketScheme("share")) -> PopularityBuckets:
    """Assign every item to head / torso / tail / cold from its number of training interactions.

    The caller must pass counts from the **training split only** (never validation or test
    interactions): popularity computed on evaluation data leaks the targets into the buckets.

    Args:
        train_counts: non-negative int array ``[n_items]``; entry ``i`` is item ``i``'s training count.
        scheme: how to cut non-cold items (see the module docstring for the exact rules).

    Example:
        >>> b = popularity_buckets(np.array([9, 0, 5, 1, 3]))
        >>> b.item_bucket.tolist()
        ['head', 'cold', 'torso', 'tail', 'tail']
    """
    counts = np.asarray(train_counts)
    if counts.ndim != 1 or counts.size == 0:
        raise EvaluationInputError(
            f"train_counts must be a non-empty 1-D array (one count per item), got shape {counts.shape}"
        )
    if not np.issubdtype(counts.dtype, np.integer):
        raise EvaluationInputError(f"train_counts must be integer counts, got dtype {counts.dtype}")
    counts = counts.astype(np.int64)
    negative = np.flatnonzero(counts < 0)
    if negative.size:
        raise EvaluationInputError(f"train_counts[{negative[0]}] = {counts[negative[0]]}; counts cannot be negative")

    # Stable sort on -count keeps equal counts in item-id order: the documented tie-break.
    order = np.argsort(-counts, kind="stable")
    n_warm = int(np.count_nonzero(counts))
    warm = order[:n_warm]
    head_cut, torso_cut = scheme.cuts
    if scheme.name == "share":
        head_end, torso_end = _round_half_up(head_cut * n_warm), _round_half_up(torso_cut * n_warm)
        position = np.arange(n_warm)
        is_head, is_torso = position < head_end, position < torso_end
    else:
        total = int(counts.sum())
        covered_before = np.cumsum(counts[warm]) - counts[warm]
        is_head, is_torso = covered_before < head_cut * total, covered_before < torso_cut * total

    item_bucket = np.full(len(counts), "cold", dtype="<U5")
    item_bucket[warm] = np.where(is_head, "head", np.where(is_torso, "torso", "tail"))
    item_bucket.setflags(write=False)
    return PopularityBuckets(scheme=scheme, item_bucket=item_bucket, thresholds=_thresholds(counts, item_bucket))


def _thresholds(counts: np.ndarray, item_bucket: np.ndarray) -> dict[str, dict[str, Any]]:
    total = int(counts.sum())
    out: dict[str, dict[str, Any]] = {}
    for bucket in BUCKETS:
        members = counts[item_bucket == bucket]
        covered = int(members.sum())
        out[bucket] = {
            "n_items": int(members.size),
            "min_train_count": int(members.min()) if members.size else None,
            "max_train_count": int(members.max()) if members.size else None,
            "interactions": covered,
            "interaction_share": covered / total if total else 0.0,
        }
    return out
