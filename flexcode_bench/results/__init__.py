"""Run records on disk: where runs live (:mod:`.layout`), the per-user records and their summary
(:mod:`.records`), writing a run atomically (:mod:`.write`), reading runs back (:mod:`.load`)
with schema migrations (:mod:`.migrations`), listing every run folder whatever its state (:mod:`.listing`).

This package must not import torch: ``report`` reads run records in a torch-free process.
"""

from __future__ import annotations

from flexcode_bench.results.layout import (
    BROKEN_TAG,
    CONFIG,
    KEY_COLUMNS,
    MANIFEST,
    METRICS,
    PARTIAL_SUFFIX,
    PER_USER,
    SPLITS,
    run_dir,
    set_aside,
)
from flexcode_bench.results.listing import RunEntry, list_runs
from flexcode_bench.results.load import RunRecord, SchemaVersionError, check_run, is_finished, load_run, load_runs
from flexcode_bench.results.migrations import MIGRATIONS
from flexcode_bench.results.records import metric_columns, summarise
from flexcode_bench.results.write import write_failed_run, write_run

__all__ = [
    "BROKEN_TAG",
    "CONFIG",
    "KEY_COLUMNS",
    "MANIFEST",
    "METRICS",
    "MIGRATIONS",
    "PARTIAL_SUFFIX",
    "PER_USER",
    "SPLITS",
    "RunEntry",
    "RunRecord",
    "SchemaVersionError",
    "check_run",
    "is_finished",
    "list_runs",
    "load_run",
    "load_runs",
    "metric_columns",
    "run_dir",
    "set_aside",
    "summarise",
    "write_failed_run",
    "write_run",
]
