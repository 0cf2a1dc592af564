"""Readers, one per source format of the catalogue, looked up by format name.

Each reader is ``read(files: dict[str, Path | None]) -> RawDataset``: ``files`` is keyed by the role
names of :data:`flexcode_bench.data.catalogue.FORMAT_ROLES` (optional files may be None). Readers
only parse: they keep valid rows in source order and quarantine malformed lines; preprocessing
filters and counts. Entries are lazy, so listing formats imports no reader.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flexcode_bench.data.raw import RawDataset
from flexcode_bench.registry import Registry

Reader = Callable[[dict[str, Path | None]], RawDataset]

READERS: Registry[Reader] = Registry[Reader]("reader format")
READERS.register(
    "mcauley-2014",
    "flexcode_bench.data.readers.mcauley:read",
    description="Amazon 2014 reviews (JSON lines) + meta (Python-literal lines), gzip",
)
READERS.register(
    "s3rec",
    "flexcode_bench.data.readers.s3rec:read",
    description="S3-Rec 'user item item ...' sequences + optional item TSV",
)
READERS.register(
    "recbole-atomic",
    "flexcode_bench.data.readers.recbole_atomic:read",
    description="RecBole atomic .inter/.item files (TSV with name:type headers)",
)
READERS.register(
    "movielens-dat",
    "flexcode_bench.data.readers.movielens:read",
    description="GroupLens MovieLens 1M zip (ratings.dat, movies.dat)",
)
READERS.freeze()

__all__ = ["READERS", "Reader"]
