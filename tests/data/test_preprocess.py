from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flexcode_bench.data.preprocess import STEPS, preprocess
from flexcode_bench.data.raw import RawDataset
from flexcode_bench.data.readers import READERS
from flexcode_bench.errors import ConfigError, DataFormatError


def _raw(rows: list[tuple], items: pd.DataFrame | None = None) -> RawDataset:
    """rows: (user, item) without timestamps or (user, item, timestamp), in source-file order."""
    with_time = len(rows[0]) == 3
    return RawDataset(
        interactions=pd.DataFrame(
            {
                "user": pd.Series([r[0] for r in rows], dtype=object),
                "item": pd.Series([r[1] for r in rows], dtype=object),
                "timestamp": np.array([r[2] if with_time else np.nan for r in rows], dtype=np.float64),
            }
        ),
        items=items if items is not None else pd.DataFrame({"item": pd.Series(dtype=object)}),
        has_timestamps=with_time,
    )


def _sequences(processed) -> dict[str, list[tuple[str, str]]]:
    """Per original user id, the chronological (original item id, split) pairs."""
    frame = processed.interactions.merge(processed.users, on="user").merge(
        processed.items[["item", "original_id"]], on="item", suffixes=("_user", "_item")
    )
    frame = frame.sort_values(["user", "position"])
    return {
        user: list(zip(group["original_id_item"], group["split"]))
        for user, group in frame.groupby("original_id_user", sort=False)
    }


# --- filtering ----------------------------------------------------------------------------------


def test_k_core_repeats_until_removing_an_item_no_longer_pushes_a_user_below_k() -> None:
    # k = 3. X has 2 users -> removed; u1 and u7 fall to 2 -> removed; that leaves Y with 2 -> removed;
    # then u2 and u3 fall to 2 -> removed. A single pass would have kept u1, u2, u3, u7 and Y.
    rows = [
        ("u1", "X"), ("u1", "Y"), ("u1", "A"),
        ("u2", "Y"), ("u2", "A"), ("u2", "B"),
        ("u3", "Y"), ("u3", "A"), ("u3", "B"),
        ("u4", "A"), ("u4", "B"), ("u4", "C"),
        ("u5", "A"), ("u5", "B"), ("u5", "C"),
        ("u6", "A"), ("u6", "B"), ("u6", "C"),
        ("u7", "X"), ("u7", "C"), ("u7", "B"),
    ]  # fmt: skip
    processed = preprocess(_raw(rows), k_core=3)
    assert processed.users["original_id"].tolist() == ["u4", "u5", "u6"]
    assert sorted(processed.items["original_id"]) == ["A", "B", "C"]
    assert len(processed.interactions) == 9
    assert processed.dropped == {"missing_ids": 0, "duplicates": 0, "k_core": 12, "too_short_for_split": 0}


def test_rows_with_an_empty_user_or_item_id_are_dropped_and_counted() -> None:
    rows = [("u1", "a", 1), ("", "a", 2), ("u1", None, 3), ("u1", "b", 4), ("  ", "c", 5), ("u1", "c", 6)]
    processed = preprocess(_raw(rows), k_core=1)
    assert _sequences(processed) == {"u1": [("a", "train"), ("b", "valid"), ("c", "test")]}
    assert processed.dropped["missing_ids"] == 3


def test_duplicate_user_item_pairs_keep_the_chronologically_earliest_interaction() -> None:
    # a at t=10 comes first in the file, but the later line at t=2 is earlier in time and wins
    rows = [("u1", "a", 10), ("u1", "b", 5), ("u1", "a", 2), ("u1", "c", 20)]
    processed = preprocess(_raw(rows), k_core=1)
    assert _sequences(processed)["u1"] == [("a", "train"), ("b", "valid"), ("c", "test")]
    assert processed.interactions["timestamp"].tolist() == [2.0, 5.0, 20.0]
    assert processed.dropped["duplicates"] == 1


def test_duplicates_with_equal_timestamps_keep_the_first_in_the_source_file() -> None:
    rows = [("u1", "a", 5), ("u1", "b", 5), ("u1", "a", 5), ("u1", "c", 9)]
    processed = preprocess(_raw(rows), k_core=1)
    assert [item for item, _ in _sequences(processed)["u1"]] == ["a", "b", "c"]


def test_users_too_short_for_leave_one_out_are_dropped_when_k_is_below_3() -> None:
    rows = [("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "b"), ("u2", "c")]
    processed = preprocess(_raw(rows), k_core=1)
    assert processed.users["original_id"].tolist() == ["u2"]
    assert processed.dropped == {"missing_ids": 0, "duplicates": 0, "k_core": 0, "too_short_for_split": 2}


def test_dropping_short_users_re_runs_the_k_core_so_items_stay_above_k() -> None:
    # k = 2: u1 is a 2-core member but too short to split; without it, item "d" has one user left.
    rows = [("u1", "d"), ("u1", "a"), ("u2", "d"), ("u2", "a"), ("u2", "b"), ("u2", "c"),
            ("u3", "a"), ("u3", "b"), ("u3", "c")]  # fmt: skip
    processed = preprocess(_raw(rows), k_core=2)
    assert sorted(processed.items["original_id"]) == ["a", "b", "c"]
    assert processed.dropped == {"missing_ids": 0, "duplicates": 0, "k_core": 1, "too_short_for_split": 2}
    assert (np.bincount(processed.interactions["item"]) >= 2).all()


def test_nothing_left_after_filtering_is_an_error_with_a_hint() -> None:
    with pytest.raises(DataFormatError, match="no interactions left") as info:
        preprocess(_raw([("u1", "a"), ("u1", "b"), ("u1", "c")]), k_core=5)
    assert "lower k_core" in (info.value.hint or "")


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "5"])
def test_k_core_must_be_a_positive_integer(k: object) -> None:
    with pytest.raises(ConfigError, match="k_core must be an integer >= 1"):
        preprocess(_raw([("u1", "a"), ("u1", "b"), ("u1", "c")]), k_core=k)  # type: ignore[arg-type]


def test_missing_timestamps_in_a_timestamped_source_are_an_error() -> None:
    with pytest.raises(DataFormatError, match="1 interactions have no timestamp"):
        preprocess(_raw([("u1", "a", 1.0), ("u1", "b", np.nan), ("u1", "c", 3.0)]), k_core=1)


# --- order and split ----------------------------------------------------------------------------


def test_timestamp_ties_keep_source_file_order() -> None:
    # chronological: y(3), w(3), z(5), x(5); names are chosen so that no alphabetical order matches
    rows = [("u1", "z", 5), ("u1", "y", 3), ("u1", "x", 5), ("u1", "w", 3)]
    processed = preprocess(_raw(rows), k_core=1)
    assert _sequences(processed)["u1"] == [("y", "train"), ("w", "train"), ("z", "valid"), ("x", "test")]
    assert processed.interactions["position"].tolist() == [0, 1, 2, 3]
    assert "equal timestamps keep their source-file order" in processed.policies["order"]


def test_without_timestamps_the_source_order_is_the_chronology() -> None:
    rows = [("u1", "c"), ("u2", "a"), ("u1", "b"), ("u2", "b"), ("u1", "a"), ("u2", "c")]
    processed = preprocess(_raw(rows), k_core=1)
    assert _sequences(processed) == {
        "u1": [("c", "train"), ("b", "valid"), ("a", "test")],
        "u2": [("a", "train"), ("b", "valid"), ("c", "test")],
    }
    assert processed.interactions["timestamp"].isna().all()


def test_split_is_last_test_second_to_last_valid_rest_train() -> None:
    rows = [("u1", item, t) for t, item in enumerate("abcdef")]
    processed = preprocess(_raw(rows), k_core=1)
    assert processed.interactions["split"].tolist() == ["train", "train", "train", "train", "valid", "test"]


def test_no_valid_or_test_row_precedes_a_training_row_of_the_same_user() -> None:
    rng = np.random.default_rng(0)
    rows = [
        (f"u{u}", f"i{rng.integers(30)}", float(rng.integers(5))) for u in range(40) for _ in range(rng.integers(3, 12))
    ]
    inter = preprocess(_raw(rows), k_core=1).interactions
    per_user = inter.groupby("user")
    assert (per_user["split"].apply(lambda s: (s == "test").sum()) == 1).all()
    assert (per_user["split"].apply(lambda s: (s == "valid").sum()) == 1).all()
    last_train = inter[inter["split"] == "train"].groupby("user")["position"].max()
    valid = inter[inter["split"] == "valid"].set_index("user")["position"]
    test = inter[inter["split"] == "test"].set_index("user")["position"]
    assert (last_train < valid.loc[last_train.index]).all()
    assert (valid + 1 == test).all()
    # ... and chronologically too, not just by position
    train_time = inter[inter["split"] == "train"].groupby("user")["timestamp"].max()
    assert (train_time <= inter[inter["split"] == "valid"].set_index("user")["timestamp"].loc[train_time.index]).all()


def test_rows_are_sorted_by_user_then_position_with_the_declared_dtypes() -> None:
    processed = preprocess(
        _raw([("b", "x", 2), ("a", "y", 1), ("b", "y", 1), ("a", "x", 3), ("b", "z", 0), ("a", "z", 2)]), k_core=1
    )
    inter = processed.interactions
    assert list(inter.columns) == ["user", "item", "timestamp", "position", "split"]
    assert inter[["user", "position"]].values.tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
    assert dict(inter.drop(columns="split").dtypes.astype(str)) == {
        "user": "int32", "item": "int32", "timestamp": "float64", "position": "int32"
    }  # fmt: skip
    # text columns are strings: object under pandas 2, pandas 3's own string dtype under pandas 3
    assert pd.api.types.is_string_dtype(inter["split"]) and pd.api.types.is_string_dtype(processed.users["original_id"])
    assert processed.users["user"].dtype == np.int32
    assert processed.items["item"].dtype == np.int32 and processed.items["train_count"].dtype == np.int64


# --- ids, popularity and item fields ------------------------------------------------------------


def test_dense_ids_start_at_0_in_order_of_first_appearance_in_the_filtered_source() -> None:
    rows = [
        ("gone", "rare", 0),  # first line of the file, removed by the 2-core
        ("u9", "i5", 9), ("u3", "i7", 1), ("u9", "i7", 2), ("u3", "i5", 3),
        ("u9", "i2", 4), ("u3", "i2", 5),
    ]  # fmt: skip
    processed = preprocess(_raw(rows), k_core=2)
    assert processed.users.to_dict("list") == {"user": [0, 1], "original_id": ["u9", "u3"]}
    assert processed.items[["item", "original_id"]].to_dict("list") == {
        "item": [0, 1, 2],
        "original_id": ["i5", "i7", "i2"],
    }


def test_train_count_counts_training_interactions_only() -> None:
    # "canary" is every user's last (test) item: it must stay cold. "v" is a validation target once.
    rows = [
        ("u1", "a", 1), ("u1", "v", 2), ("u1", "canary", 3),
        ("u2", "a", 1), ("u2", "v", 2), ("u2", "b", 3), ("u2", "canary", 4),
    ]  # fmt: skip
    processed = preprocess(_raw(rows), k_core=1)
    counts = dict(zip(processed.items["original_id"], processed.items["train_count"]))
    assert counts == {"a": 2, "v": 1, "canary": 0, "b": 0}
    assert processed.stats()["cold_items"] == 2


def test_item_fields_are_left_joined_and_missing_values_become_empty_strings() -> None:
    fields = pd.DataFrame(
        {
            "item": ["b", "a", "unused", "a"],  # the second "a" row is a duplicate: the first wins
            "title": ["Bee", "Ay", "Nobody", "Again"],
            "brand": ["B", None, "N", "X"],
        }
    )
    rows = [("u1", "a"), ("u1", "b"), ("u1", "c")]
    items = preprocess(_raw(rows, items=fields), k_core=1).items
    assert items.to_dict("records") == [
        {"item": 0, "original_id": "a", "train_count": 1, "title": "Ay", "brand": ""},
        {"item": 1, "original_id": "b", "train_count": 0, "title": "Bee", "brand": "B"},
        {"item": 2, "original_id": "c", "train_count": 0, "title": "", "brand": ""},
    ]


def test_stats_summarise_counts_lengths_density_and_dropped_rows() -> None:
    fields = pd.DataFrame({"item": ["a"], "title": ["Ay"]})
    rows = [("u1", "a"), ("u1", "b"), ("u1", "c"), ("u2", "a"), ("u2", "b"), ("u2", "c"), ("u2", "d"), ("u2", "a")]
    stats = preprocess(_raw(rows, items=fields), k_core=1).stats()
    assert stats == {
        "n_users": 2,
        "n_items": 4,
        "n_interactions": 7,
        "split_counts": {"train": 3, "valid": 2, "test": 2},
        "sequence_length": {"min": 3, "mean": 3.5, "median": 3.5, "max": 4},
        "density": 7 / 8,
        "cold_items": 2,
        "dropped": {"missing_ids": 0, "duplicates": 1, "k_core": 0, "too_short_for_split": 0},
        "text_fields": ["title"],
        "items_without_text_fields": 3,
    }


def test_policies_name_every_step() -> None:
    policies = preprocess(_raw([("u1", "a"), ("u1", "b"), ("u1", "c")]), k_core=1).policies
    assert set(STEPS) <= set(policies)
    assert "earliest" in policies["duplicates"] and "leave-one-out" in policies["split"]
    assert "first appearance" in policies["ids"]


# --- properties ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["", "u1", "u2", "u3", "u4", "u5", "u6"]),
            st.sampled_from(["", *"abcdefg"]),
            st.integers(0, 4),
        ),
        min_size=1,
        max_size=80,
    ),
    k=st.integers(1, 4),
)
def test_any_input_gives_a_k_core_with_dense_ids_and_one_valid_and_test_per_user(rows: list[tuple], k: int) -> None:
    try:
        processed = preprocess(_raw(rows), k_core=k)
    except DataFormatError:
        return  # everything filtered out: reported, not returned empty
    inter = processed.interactions
    n_users, n_items = len(processed.users), len(processed.items)
    assert sum(processed.dropped.values()) + len(inter) == len(rows)
    assert sorted(inter["user"].unique()) == list(range(n_users))
    assert sorted(inter["item"].unique()) == list(range(n_items))
    assert (np.bincount(inter["user"]) >= max(k, 3)).all()
    assert (np.bincount(inter["item"]) >= k).all()
    assert not inter.duplicated(["user", "item"]).any()
    assert ((inter["split"] == "test").groupby(inter["user"]).sum() == 1).all()
    assert ((inter["split"] == "valid").groupby(inter["user"]).sum() == 1).all()
    train = inter[inter["split"] == "train"]
    assert processed.items["train_count"].tolist() == np.bincount(train["item"], minlength=n_items).tolist()


def test_300k_interactions_preprocess_in_a_few_seconds() -> None:
    rng = np.random.default_rng(1)
    n = 300_000
    raw = RawDataset(
        interactions=pd.DataFrame(
            {
                "user": pd.Series([f"A{u:08d}" for u in rng.integers(0, 35_000, n)], dtype=object),
                "item": pd.Series([f"B{i:09d}" for i in rng.zipf(1.3, n) % 20_000], dtype=object),
                "timestamp": rng.integers(1_300_000_000, 1_400_000_000, n).astype(np.float64),
            }
        ),
        items=pd.DataFrame({"item": pd.Series(dtype=object)}),
        has_timestamps=True,
    )
    start = time.perf_counter()
    processed = preprocess(raw, k_core=5)
    assert time.perf_counter() - start < 10  # typically under 1 s; generous for slow CI machines
    assert len(processed.interactions) > 0


# --- the shared benchmark copy ------------------------------------------------------------------


@pytest.mark.shared_data
def test_shared_beauty_s3rec_files_give_the_published_5_core_counts(shared_beauty: Path) -> None:
    raw = READERS.get("s3rec")({"sequences": shared_beauty / "Beauty.txt", "items": shared_beauty / "items.tsv"})
    processed = preprocess(raw, k_core=5)
    stats = processed.stats()
    assert (stats["n_users"], stats["n_items"], stats["n_interactions"]) == (22_363, 12_101, 198_502)
    assert stats["split_counts"] == {"train": 198_502 - 2 * 22_363, "valid": 22_363, "test": 22_363}
    assert stats["sequence_length"]["min"] == 5
    assert round(stats["sequence_length"]["mean"], 2) == 8.88
    assert stats["items_without_text_fields"] == 0
    # the first user of Beauty.txt is "1 1 2 3 4 5": its ids are the first ones handed out
    first = processed.interactions[processed.interactions["user"] == 0]
    assert processed.users["original_id"].iloc[0] == "1"
    assert processed.items.set_index("item").loc[first["item"], "original_id"].tolist() == ["1", "2", "3", "4", "5"]
    assert first["split"].tolist() == ["train", "train", "train", "valid", "test"]
