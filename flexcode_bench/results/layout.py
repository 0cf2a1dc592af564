"""Where runs live on disk and what their folders hold (DESIGN.md §6).

Layout of ``<results_dir>/<dataset>/<model>/seed-<n>/``::

    per_user.parquet  split:str ("valid" | "test"), user_id:int64, target_item:int64,
                      rank:Int64 (1-based position of the target in the returned top-K, null when
                      absent), bucket:str (head | torso | tail | cold), then one float64 column per
                      metric ("recall@5" ... "mrr@20"); one row per (split, user)
    metrics.json      schema_version, then per split: n_users, overall means and means by bucket
                      (with n_users), always computed from per_user, never passed in
    config.yaml       the resolved config, including its config_hash
    manifest.json     provenance and status (see :func:`flexcode_bench.provenance.build_manifest`)

A failed run holds only config.yaml and manifest.json (status "failed"), so that ``report`` can
list it and ``run`` redoes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from flexcode_bench.data.prepared import EVAL_SPLITS
from flexcode_bench.errors import ConfigError

PER_USER = "per_user.parquet"
METRICS = "metrics.json"
CONFIG = "config.yaml"
MANIFEST = "manifest.json"

SPLITS = EVAL_SPLITS
KEY_COLUMNS = ("split", "user_id", "target_item", "rank", "bucket")

# seed-<n> is the run of the config run last; seed-<n>@<config_hash> a finished run of another config kept aside.
SEED_DIR = re.compile(r"^seed-(\d+)(@[0-9a-f]+)?$")
PARTIAL_SUFFIX = ".partial"  # an unfinished run's checkpoints beside its folder (see flexcode_bench.resume)
BROKEN_TAG = ".broken-"  # a run folder set aside because its files did not read back (see set_aside)
INCOMPLETE = "the run folder is incomplete: delete it and run again"


def run_dir(results_dir: Path, dataset: str, model: str, seed: int) -> Path:
    """The folder of one run: ``<results_dir>/<dataset>/<model>/seed-<n>``."""
    for label, name in (("dataset", dataset), ("model", model)):
        # A leading dot would hide the run from load_runs, which skips staging folders that way.
        if not isinstance(name, str) or not name or name.startswith(".") or "/" in name or "\\" in name:
            raise ConfigError(
                f"{label} name {name!r} cannot be a folder name", hint="use a plain name without '/' or a leading '.'"
            )
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return Path(results_dir) / dataset / model / f"seed-{int(seed)}"


def set_aside(path: Path, tag: str) -> Path:
    """Move a run folder to ``<folder><tag>`` beside it (never deleting anything); returns the new path.

    The runner tags a broken run ``.broken-<time>`` (which ``load_runs`` never reads) and a finished
    run of another config ``@<config_hash>`` (which it reads, for ``report`` to choose from).
    """
    path = Path(path)
    target = path.with_name(path.name + tag)
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}{tag}.{n}")
    path.rename(target)
    return target


def visible_dirs(folder: Path) -> list[Path]:
    # ".tmp-*" and ".old-*" are atomic_directory's staging and backup folders: never complete runs.
    if not folder.is_dir():
        return []
    return sorted(child for child in folder.iterdir() if child.is_dir() and not child.name.startswith("."))


def run_folders(results_dir: Path, dataset: str | None, model: str | None) -> Iterator[Path]:
    """The folders at run depth (``<dataset>/<model>/<run>``), filtered by dataset and model folder names."""
    for dataset_dir in visible_dirs(results_dir):
        if dataset is not None and dataset_dir.name != dataset:
            continue
        for model_dir in visible_dirs(dataset_dir):
            if model is None or model_dir.name == model:
                yield from visible_dirs(model_dir)
