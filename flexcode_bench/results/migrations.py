"""Schema migrations: each turns a run record of one schema version into the next."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class StoredRun:
    """A run's files as read, at whatever schema version; migrators map one version to the next."""

    manifest: dict
    config: dict
    metrics: dict
    load_per_user: Callable[[], pd.DataFrame] | None

    @property
    def version(self) -> int:
        return self.manifest.get("schema_version", 0)


def _migrate_v0_to_v1(run: StoredRun) -> StoredRun:
    """v0 kept test targets only: per_user had no ``split`` column and metrics.json was the test
    summary itself (``{"overall", "by_bucket"}``), with no schema_version anywhere. v1 adds splits."""
    metrics = run.metrics
    if metrics:
        by_bucket = metrics.get("by_bucket", {})
        # Every user falls in exactly one bucket, so the bucket counts add up to the test users.
        n_users = sum(int(bucket.get("n_users", 0)) for bucket in by_bucket.values())
        test = {"n_users": n_users, "overall": metrics.get("overall", {}), "by_bucket": by_bucket}
        metrics = {"schema_version": 1, "valid": {"n_users": 0, "overall": {}, "by_bucket": {}}, "test": test}
    load_v0 = run.load_per_user

    def load_v1() -> pd.DataFrame:
        frame = load_v0().copy()  # type: ignore[misc]
        if "split" not in frame.columns:
            frame.insert(0, "split", "test")
        return frame

    return StoredRun({**run.manifest, "schema_version": 1}, run.config, metrics, None if load_v0 is None else load_v1)


# version N → the function that turns a version-N record into version N + 1.
MIGRATIONS: dict[int, Callable[[StoredRun], StoredRun]] = {0: _migrate_v0_to_v1}
