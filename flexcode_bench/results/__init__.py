"""Run records on disk: where runs live (:mod:`.layout`), the per-user records and their summary
(:mod:`.records`), writing a run atomically (:mod:`.write`), reading runs back (:mod:`.load`)
with schema migrations (:mod:`.migrations`).

This package must not import torch: ``report`` reads run records in a torch-free process.
"""

from __future__ import annotations

from flexcode_bench.results.layout import (
    CONFIG,
    KEY_COLUMNS,
    MANIFEST,
    METRICS,
    PER_USER,
    SPLITS,
    run_dir,
    set_aside,
)
from flexcode_bench.results.load import RunRecord, SchemaVersionError, check_run, is_finished, load_run, load_runs
from flexcode_bench.results.migrations import MIGRATIONS
from flexcode_bench.results.records import metric_columns, summarise
from flexcode_bench.results.write import write_failed_run, write_run

__all__ = [
    "CONFIG",
    "KEY_COLUMNS",
    "MANIFEST",
    "METRICS",
    "MIGRATIONS",
    "PER_USER",
    "SPLITS",
    "RunRecord",
    "SchemaVersionError",
    "check_run",
    "is_finished",
    "load_run",
    "load_runs",
    "metric_columns",
    "run_dir",
    "set_aside",
    "summarise",
    "write_failed_run",
    "write_run",
]
