"""Raw reader output → filtered, densely indexed, leave-one-out split interactions.

Steps, in order (each one's dropped-row count is kept under the same name):

1. ``missing_ids``: drop rows whose user or item id is empty.
2. ``duplicates``: a repeated (user, item) pair keeps its earliest interaction in chronological order.
3. ``k_core``: remove users and items with fewer than ``k`` interactions, repeatedly, until a fixed point.
4. ``too_short_for_split``: drop users with fewer than 3 interactions (leave-one-out needs a training,
   a validation and a test item; only possible when ``k < 3``). Steps 3 and 4 alternate until neither
   removes anything, so the result is still a k-core.

Chronology per user is a *stable* sort by timestamp, so equal timestamps keep their source-file order;
without timestamps the source order is the chronology. Dense 0-based ids follow first appearance in
the filtered source order. The last interaction of a user is the test target, the second-to-last the
validation target, the rest is training; ``train_count`` counts training interactions only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from flexcode_bench.data.prepared import SPLITS
from flexcode_bench.data.raw import RawDataset
from flexcode_bench.errors import ConfigError, DataFormatError

MIN_SEQUENCE_LENGTH = 3  # train + valid + test
STEPS = ("missing_ids", "duplicates", "k_core", "too_short_for_split")
_ITEM_COLUMNS = ("item", "original_id", "train_count")
_RESERVED_FIELDS = ("original_id", "train_count", "text")


@dataclass
class Processed:
    """Preprocessing output; the tables match the prepared-dataset layout (see :mod:`flexcode_bench.data.prepared`)."""

    # user:int32, item:int32, timestamp:float64, position:int32, split:str — sorted by (user, position)
    interactions: pd.DataFrame
    users: pd.DataFrame  # user:int32, original_id:str
    items: pd.DataFrame  # item:int32, original_id:str, train_count:int64, <text fields>:str ("" when missing)
    dropped: dict[str, int]  # rows dropped per step, in the order of STEPS
    policies: dict[str, str]  # human-readable policy per step

    @property
    def text_fields(self) -> list[str]:
        """The item text-field columns (every column of ``items`` except item, original_id, train_count)."""
        return [c for c in self.items.columns if c not in _ITEM_COLUMNS]

    def stats(self) -> dict:
        """Counts, per-split counts, sequence lengths, density, dropped rows and items without text (JSON-ready)."""
        n_users, n_items, n_interactions = len(self.users), len(self.items), len(self.interactions)
        lengths = np.bincount(self.interactions["user"].to_numpy(), minlength=n_users)
        split = self.interactions["split"]
        fields = self.text_fields
        if fields:
            blank = np.logical_and.reduce([self.items[f].str.strip().eq("").to_numpy() for f in fields])
            without_text = int(blank.sum())
        else:
            without_text = n_items
        return {
            "n_users": n_users,
            "n_items": n_items,
            "n_interactions": n_interactions,
            "split_counts": {s: int((split == s).sum()) for s in SPLITS},
            "sequence_length": {
                "min": int(lengths.min()) if n_users else 0,
                "mean": float(lengths.mean()) if n_users else 0.0,
                "median": float(np.median(lengths)) if n_users else 0.0,
                "max": int(lengths.max()) if n_users else 0,
            },
            "density": n_interactions / (n_users * n_items) if n_users and n_items else 0.0,
            "cold_items": int((self.items["train_count"] == 0).sum()),
            "dropped": {step: int(n) for step, n in self.dropped.items()},
            "text_fields": fields,
            "items_without_text_fields": without_text,
        }


def _policies(k_core: int, has_timestamps: bool) -> dict[str, str]:
    order = (
        "per user, stable sort by timestamp; equal timestamps keep their source-file order"
        if has_timestamps
        else "no timestamps: the source-file order is the chronology"
    )
    return {
        "missing_ids": "rows with an empty user or item id are dropped",
        "duplicates": "a repeated (user, item) pair keeps its earliest interaction (chronological order)",
        "k_core": f"iterative {k_core}-core: users and items with fewer than {k_core} interactions are removed "
        "until none is left",
        "too_short_for_split": f"users with fewer than {MIN_SEQUENCE_LENGTH} interactions are dropped "
        "(leave-one-out needs train, valid and test)",
        "order": order,
        "ids": "dense 0-based ids, users and items each in order of first appearance in the filtered source file",
        "split": "leave-one-out: last interaction = test, second-to-last = valid, the rest = train",
        "train_count": "item popularity counts training interactions only (0 = cold item)",
    }


def _blank(ids: pd.Series) -> np.ndarray:
    return (ids.isna() | ids.astype(str).str.strip().eq("")).to_numpy()


def _k_core(users: np.ndarray, items: np.ndarray, keep: np.ndarray, k: int) -> np.ndarray:
    """Shrink ``keep`` until every kept user and item has at least ``k`` kept rows."""
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    while True:
        user_counts = np.bincount(users[keep], minlength=n_users)
        item_counts = np.bincount(items[keep], minlength=n_items)
        shrunk = keep & (user_counts[users] >= k) & (item_counts[items] >= k)
        if shrunk.sum() == keep.sum():
            return keep
        keep = shrunk


def _text_fields(raw_items: pd.DataFrame, original_ids: np.ndarray) -> pd.DataFrame:
    if "item" not in raw_items.columns:
        raise DataFormatError("reader output: the items table has no 'item' column")
    fields = [c for c in raw_items.columns if c != "item"]
    clashes = [f for f in fields if f in _RESERVED_FIELDS]
    if clashes:
        raise DataFormatError(
            f"reader output: item field name(s) {clashes} are reserved ({', '.join(_RESERVED_FIELDS)})"
        )
    table = raw_items.assign(item=raw_items["item"].astype(str)).drop_duplicates("item", keep="first")
    table = table.set_index("item").reindex(original_ids)
    return pd.DataFrame(
        {f: table[f].where(table[f].notna(), "").astype(str).to_numpy(dtype=object) for f in fields},
        index=pd.RangeIndex(len(original_ids)),
    )


def preprocess(raw: RawDataset, *, k_core: int = 5) -> Processed:
    """Filter, order, index and split ``raw`` (see the module docstring for the exact policy)."""
    if isinstance(k_core, bool) or not isinstance(k_core, (int, np.integer)) or k_core < 1:
        raise ConfigError(f"k_core must be an integer >= 1, got {k_core!r}")
    frame = raw.interactions
    missing_columns = [c for c in ("user", "item", "timestamp") if c not in frame.columns]
    if missing_columns:
        raise DataFormatError(f"reader output: interactions lack column(s) {missing_columns}")
    dropped = dict.fromkeys(STEPS, 0)

    present = ~(_blank(frame["user"]) | _blank(frame["item"]))
    dropped["missing_ids"] = int((~present).sum())
    source = np.flatnonzero(present)  # source-file positions of the rows still in play, ascending
    user_codes, user_names = pd.factorize(frame["user"].to_numpy()[source].astype(str))
    item_codes, item_names = pd.factorize(frame["item"].to_numpy()[source].astype(str))
    timestamps = frame["timestamp"].to_numpy(dtype=np.float64)[source]
    if raw.has_timestamps and np.isnan(timestamps).any():
        n_missing = int(np.isnan(timestamps).sum())
        raise DataFormatError(f"reader output: {n_missing} interactions have no timestamp although the source has them")

    # lexsort is stable and its last key is primary: time, then source position for ties.
    chronological = np.lexsort((source, timestamps)) if raw.has_timestamps else np.arange(len(source))
    pairs = user_codes.astype(np.int64) * max(len(item_names), 1) + item_codes
    _, first = np.unique(pairs[chronological], return_index=True)  # first occurrence = earliest
    unique_rows = np.sort(chronological[first])
    dropped["duplicates"] = len(source) - len(unique_rows)
    source, user_codes, item_codes, timestamps = (a[unique_rows] for a in (source, user_codes, item_codes, timestamps))

    keep = np.ones(len(source), dtype=bool)
    while len(source):
        before = int(keep.sum())
        keep = _k_core(user_codes, item_codes, keep, k_core)
        dropped["k_core"] += before - int(keep.sum())
        lengths = np.bincount(user_codes[keep], minlength=len(user_names))
        short = keep & (lengths[user_codes] < MIN_SEQUENCE_LENGTH)
        if not short.any():
            break
        dropped["too_short_for_split"] += int(short.sum())
        keep &= ~short
    if not keep.any():
        raise DataFormatError(
            f"no interactions left after preprocessing (dropped per step: {dropped})",
            hint=f"the data is too sparse for a {k_core}-core; lower k_core or check the reader's quarantine",
        )
    source, user_codes, item_codes, timestamps = (a[keep] for a in (source, user_codes, item_codes, timestamps))

    # Re-index densely; rows are in source order, so factorize numbers ids by first appearance.
    users, user_uniques = pd.factorize(user_codes)
    items, item_uniques = pd.factorize(item_codes)
    user_ids = np.asarray(user_names)[user_uniques]
    item_ids = np.asarray(item_names)[item_uniques]

    order = np.lexsort((source, timestamps, users)) if raw.has_timestamps else np.argsort(users, kind="stable")
    users, items, timestamps = users[order], items[order], timestamps[order]
    lengths = np.bincount(users, minlength=len(user_ids))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    positions = np.arange(len(users)) - starts[users]
    from_end = lengths[users] - positions  # 1 = last
    split = np.where(from_end == 1, "test", np.where(from_end == 2, "valid", "train")).astype(object)

    interactions = pd.DataFrame(
        {
            "user": users.astype(np.int32),
            "item": items.astype(np.int32),
            "timestamp": timestamps.astype(np.float64),
            "position": positions.astype(np.int32),
            "split": split,
        }
    )
    train_count = np.bincount(items[split == "train"], minlength=len(item_ids)).astype(np.int64)
    items_table = pd.concat(
        [
            pd.DataFrame(
                {
                    "item": np.arange(len(item_ids), dtype=np.int32),
                    "original_id": item_ids.astype(object),
                    "train_count": train_count,
                }
            ),
            _text_fields(raw.items, item_ids),
        ],
        axis=1,
    )
    users_table = pd.DataFrame(
        {"user": np.arange(len(user_ids), dtype=np.int32), "original_id": user_ids.astype(object)}
    )
    return Processed(
        interactions=interactions,
        users=users_table,
        items=items_table,
        dropped=dropped,
        policies=_policies(k_core, raw.has_timestamps),
    )
