"""Per-user records and their summary, metrics.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flexcode_bench.provenance import SCHEMA_VERSION
from flexcode_bench.results import summarise
from flexcode_bench.results.records import normalise_per_user
from tests.support.run_records import make_per_user, write_finished


def test_metrics_json_means_equal_per_user_means_per_split_and_bucket(tmp_path: Path) -> None:
    path = write_finished(tmp_path)
    metrics = json.loads((path / "metrics.json").read_text())
    frame = make_per_user()

    assert metrics["schema_version"] == SCHEMA_VERSION
    for split in ("valid", "test"):
        rows = frame[frame["split"] == split]
        assert metrics[split]["n_users"] == 6
        expected = {"recall@5": rows["recall@5"].mean(), "mrr@5": rows["mrr@5"].mean()}
        assert metrics[split]["overall"] == pytest.approx(expected)
        assert list(metrics[split]["by_bucket"]) == ["head", "torso", "tail", "cold"]
        for bucket, summary in metrics[split]["by_bucket"].items():
            in_bucket = rows[rows["bucket"] == bucket]
            assert summary["n_users"] == len(in_bucket)
            assert summary["recall@5"] == pytest.approx(in_bucket["recall@5"].mean())
            assert summary["mrr@5"] == pytest.approx(in_bucket["mrr@5"].mean())


def test_summarise_keeps_valid_and_test_apart() -> None:
    frame = make_per_user()
    frame.loc[frame["split"] == "valid", "recall@5"] = 1.0
    frame.loc[frame["split"] == "test", "recall@5"] = 0.0

    summary = summarise(frame)

    assert summary["valid"]["overall"]["recall@5"] == 1.0
    assert summary["test"]["overall"]["recall@5"] == 0.0


def test_given_only_test_rows_then_valid_summary_is_empty_not_nan() -> None:
    frame = make_per_user()
    summary = summarise(frame[frame["split"] == "test"])
    assert summary["valid"] == {"n_users": 0, "overall": {}, "by_bucket": {}}


def test_given_float_ranks_with_nan_then_they_become_nullable_ints() -> None:
    frame = make_per_user()
    frame["rank"] = frame["rank"].astype("float64")
    assert normalise_per_user(frame, "per_user")["rank"].equals(make_per_user()["rank"])
