"""Run records on disk: write one run atomically, load it back (migrating old schemas), list runs.

Layout of ``<results_dir>/<dataset>/<model>/seed-<n>/`` (DESIGN.md §6)::

    per_user.parquet  split:str ("valid" | "test"), user_id:int64, target_item:int64,
                      rank:Int64 (1-based position of the target in the returned top-K, null when
                      absent), bucket:str (head | torso | tail | cold), then one float64 column per
                      metric ("recall@5" ... "mrr@20"); one row per (split, user)
    metrics.json      schema_version, then per split: n_users, overall means and means by bucket
                      (with n_users), always computed here from per_user, never passed in
    config.yaml       the resolved config, including its config_hash
    manifest.json     provenance and status (see :func:`build_manifest`)

A failed run holds only config.yaml and manifest.json (status "failed"), so that ``report`` can
list it and ``run`` redoes it. A run folder is replaced as a whole (``atomic_directory``): a reader
sees the previous complete run or the new one, never a mixture.

This module must not import torch: ``report`` reads run records in a torch-free process.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from flexcode_bench import __version__
from flexcode_bench.atomic import atomic_directory
from flexcode_bench.config import stable_hash
from flexcode_bench.errors import ConfigError, DataFormatError
from flexcode_bench.provenance import (  # noqa: F401 (build_manifest and friends are re-exported for callers)
    SCHEMA_VERSION,
    STATUSES,
    build_manifest,
    describe_exception,
    utc_now,
)


PER_USER = "per_user.parquet"
METRICS = "metrics.json"
CONFIG = "config.yaml"
MANIFEST = "manifest.json"

SPLITS = ("valid", "test")
BUCKETS = ("head", "torso", "tail", "cold")
KEY_COLUMNS = ("split", "user_id", "target_item", "rank", "bucket")

_METRIC_NAME = re.compile(r"^[A-Za-z_][\w.\-]*@\d+$")
# seed-<n> is the run of the config run last; seed-<n>@<config_hash> a finished run of another config kept aside.
_SEED_DIR = re.compile(r"^seed-(\d+)(@[0-9a-f]+)?$")
PARTIAL_SUFFIX = ".partial"  # an unfinished run's checkpoints beside its folder (see flexcode_bench.resume)
BROKEN_TAG = ".broken-"  # a run folder set aside because its files did not read back (see set_aside)
_INCOMPLETE = "the run folder is incomplete: delete it and run again"


class SchemaVersionError(DataFormatError):
    """A run record has a schema version this flexbench cannot read (newer, or with no migrator)."""


# ==== paths and hashes ==========================================================================


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


config_hash = stable_hash  # one hash for every config in flexbench


# ==== per-user records and their summary ========================================================


def metric_columns(per_user: pd.DataFrame) -> list[str]:
    """The metric columns of a per-user frame, in stored order."""
    return [column for column in per_user.columns if column not in KEY_COLUMNS]


def summarise(per_user: pd.DataFrame) -> dict:
    """The content of metrics.json: per split, n_users, overall means and means by bucket."""
    frame = _normalise_per_user(per_user, "per_user")
    metrics = metric_columns(frame)
    summary: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    for split in SPLITS:
        summary[split] = _summarise_split(frame[frame["split"] == split], metrics)
    return summary


def _summarise_split(rows: pd.DataFrame, metrics: list[str]) -> dict:
    by_bucket = {}
    for bucket in BUCKETS:
        in_bucket = rows[rows["bucket"] == bucket]
        if len(in_bucket):
            by_bucket[bucket] = {"n_users": int(len(in_bucket)), **_means(in_bucket, metrics)}
    return {"n_users": int(len(rows)), "overall": _means(rows, metrics), "by_bucket": by_bucket}


def _means(rows: pd.DataFrame, metrics: list[str]) -> dict[str, float]:
    # An empty split has no mean; {} says so without writing NaN into JSON.
    return {metric: float(rows[metric].mean()) for metric in metrics} if len(rows) else {}


def _normalise_per_user(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check the per-user contract and return the frame with canonical column order and dtypes."""
    if not isinstance(frame, pd.DataFrame):
        raise DataFormatError(f"{source} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [column for column in KEY_COLUMNS if column not in frame.columns]
    if missing:
        raise DataFormatError(
            f"{source} is missing column(s) {missing}",
            hint=f"per-user records need {list(KEY_COLUMNS)} + metric@k columns",
        )
    if frame.columns.duplicated().any():
        duplicated = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise DataFormatError(f"{source} has duplicated columns {duplicated}")
    metrics = metric_columns(frame)
    bad_names = [column for column in metrics if not isinstance(column, str) or not _METRIC_NAME.match(column)]
    if bad_names:
        raise DataFormatError(
            f"{source} has columns {bad_names} that are neither key columns nor metric@k",
            hint="drop them or name metrics like 'ndcg@10'",
        )
    if not metrics:
        raise DataFormatError(f"{source} has no metric@k column")
    if frame.empty:
        raise DataFormatError(f"{source} has no rows")

    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    out["split"] = _labels(frame["split"], SPLITS, "split", source)
    out["user_id"] = _ids(frame["user_id"], "user_id", source)
    out["target_item"] = _ids(frame["target_item"], "target_item", source)
    out["rank"] = _ranks(frame["rank"], source)
    out["bucket"] = _labels(frame["bucket"], BUCKETS, "bucket", source)
    for metric in metrics:
        column = frame[metric]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            raise DataFormatError(f"{source} column {metric!r} must be float, got {column.dtype}")
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        if not np.isfinite(values).all():
            raise DataFormatError(
                f"{source} column {metric!r} has NaN or infinite values",
                hint="every user scores a number (0 for a miss)",
            )
        out[metric] = values
    if out.duplicated(["split", "user_id"]).any():
        raise DataFormatError(f"{source} has several rows for one (split, user_id)", hint="one row per user and split")
    return out


def _labels(column: pd.Series, allowed: tuple[str, ...], name: str, source: str) -> np.ndarray:
    unknown = set(column.unique()) - set(allowed)
    if unknown:
        raise DataFormatError(
            f"{source} column {name!r} has values {sorted(map(str, unknown))}", hint=f"allowed: {list(allowed)}"
        )
    return column.astype(str).to_numpy(dtype=object)


def _ids(column: pd.Series, name: str, source: str) -> np.ndarray:
    if not pd.api.types.is_integer_dtype(column) or column.isna().any():
        raise DataFormatError(f"{source} column {name!r} must hold integers without nulls, got {column.dtype}")
    return column.to_numpy(dtype="int64")


def _ranks(column: pd.Series, source: str) -> pd.api.extensions.ExtensionArray:
    if pd.api.types.is_float_dtype(column):
        present = column.dropna()
        if not (np.isfinite(present) & (present == np.round(present))).all():
            raise DataFormatError(f"{source} column 'rank' has fractional or infinite values")
    elif not pd.api.types.is_integer_dtype(column):
        raise DataFormatError(f"{source} column 'rank' must be Int64 (null when absent), got {column.dtype}")
    ranks = pd.array(column.to_numpy(dtype="float64", na_value=np.nan), dtype="Int64")
    if (ranks[~ranks.isna()] < 1).any():
        raise DataFormatError(f"{source} column 'rank' must be 1-based (>= 1) or null")
    return ranks


# ==== writing ===================================================================================


def write_run(
    path: Path, *, per_user: pd.DataFrame, config: dict, manifest: dict, extra_files: Mapping[str, Path] | None = None
) -> None:
    """Write a finished run (all four files) and atomically replace whatever was at ``path``.

    Everything is validated before anything touches the disk; a failure while writing leaves the
    previous complete run (or nothing), never a partial folder. ``extra_files`` (name → file) are
    copied in too (``--keep-checkpoints`` keeps the best weights as ``model.pt``).
    """
    frame = _normalise_per_user(per_user, "per_user")
    config_out, manifest_out = _resolved_config_and_manifest(config, manifest)
    if manifest_out.get("status") != "finished":
        raise ValueError(
            f"write_run records finished runs; manifest status is {manifest_out.get('status')!r} (use write_failed_run)"
        )
    metrics = summarise(frame)
    with atomic_directory(path) as staging:
        _write_parquet(frame, staging / PER_USER)
        _write_json(metrics, staging / METRICS)
        _write_yaml(config_out, staging / CONFIG)
        for name, source in (extra_files or {}).items():
            shutil.copyfile(source, staging / name)
        _write_json(manifest_out, staging / MANIFEST)


def write_failed_run(path: Path, *, config: dict, manifest: dict) -> None:
    """Record a failed run (config.yaml + manifest.json with status "failed"), atomically replacing ``path``."""
    config_out, manifest_out = _resolved_config_and_manifest(config, manifest)
    manifest_out["status"] = "failed"
    with atomic_directory(path) as staging:
        _write_yaml(config_out, staging / CONFIG)
        _write_json(manifest_out, staging / MANIFEST)


def _resolved_config_and_manifest(config: Mapping[str, Any], manifest: Mapping[str, Any]) -> tuple[dict, dict]:
    digest = config_hash(config)
    if "config_hash" in config and config["config_hash"] != digest:
        raise ConfigError(f"config carries config_hash {config['config_hash']!r} but its content hashes to {digest!r}")
    plain = json.loads(json.dumps(dict(config)))
    plain["config_hash"] = digest
    manifest_out = dict(manifest)
    if manifest_out.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"manifest schema_version must be {SCHEMA_VERSION} (build it with build_manifest)")
    missing = [key for key in ("status", "dataset", "model", "seed", "config_hash") if key not in manifest_out]
    if missing:
        raise ValueError(f"manifest lacks {missing} (build it with build_manifest)")
    if manifest_out["config_hash"] != digest:
        raise ConfigError(f"manifest config_hash {manifest_out['config_hash']!r} differs from the config's {digest!r}")
    return plain, manifest_out


def _write_parquet(frame: pd.DataFrame, file: Path) -> None:
    frame.to_parquet(file, index=False)


def _write_json(data: Mapping[str, Any], file: Path) -> None:
    file.write_text(json.dumps(data, indent=2, default=_json_default) + "\n", encoding="utf-8")


def _write_yaml(data: Mapping[str, Any], file: Path) -> None:
    file.write_text(yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True), encoding="utf-8")


def _json_default(value: Any) -> Any:
    # Diagnostics often carry numpy scalars or arrays; a run must not fail at its last step over them.
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# ==== reading and migrating =====================================================================


@dataclass(frozen=True)
class RunRecord:
    """One run read back from disk. ``per_user`` is read (and validated) on first access."""

    path: Path
    dataset: str
    model: str
    seed: int
    config: dict
    manifest: dict
    metrics: dict
    _per_user_loader: Callable[[], pd.DataFrame] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def per_user(self) -> pd.DataFrame:
        """The per-user records (see the module docstring); a failed run has none."""
        if self._per_user_loader is None:
            raise DataFormatError(f"run {self.path} has status {self.status!r} and no per-user records")
        return _normalise_per_user(self._per_user_loader(), str(self.path / PER_USER))

    @property
    def status(self) -> str:
        return self.manifest["status"]

    @property
    def config_hash(self) -> str:
        return self.manifest["config_hash"]

    @property
    def protocol(self) -> dict:
        return self.manifest.get("protocol", {})


@dataclass(frozen=True)
class _StoredRun:
    """A run's files as read, at whatever schema version; migrators map one version to the next."""

    manifest: dict
    config: dict
    metrics: dict
    load_per_user: Callable[[], pd.DataFrame] | None

    @property
    def version(self) -> int:
        return self.manifest.get("schema_version", 0)


def _migrate_v0_to_v1(run: _StoredRun) -> _StoredRun:
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

    return _StoredRun({**run.manifest, "schema_version": 1}, run.config, metrics, None if load_v0 is None else load_v1)


# version N → the function that turns a version-N record into version N + 1.
MIGRATIONS: dict[int, Callable[[_StoredRun], _StoredRun]] = {0: _migrate_v0_to_v1}


def load_run(path: Path) -> RunRecord:
    """Read one run folder, migrating older schema versions; errors name the missing or bad file."""
    path = Path(path)
    if not path.is_dir():
        raise DataFormatError(f"no run folder at {path}")
    manifest = _read_json(path / MANIFEST)
    version = manifest.get("schema_version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise DataFormatError(f"{path / MANIFEST} has an invalid schema_version {version!r}")
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{path / MANIFEST} has schema version {version}, newer than {SCHEMA_VERSION} (flexbench {__version__})",
            hint="upgrade flexbench to read it",
        )
    if manifest.get("status") not in STATUSES:
        raise DataFormatError(f"{path / MANIFEST} has status {manifest.get('status')!r}, expected one of {STATUSES}")
    config = _read_yaml(path / CONFIG)
    finished = manifest["status"] == "finished"
    metrics = _read_json(path / METRICS) if finished else {}
    per_user_file = path / PER_USER
    if finished and not per_user_file.is_file():
        raise DataFormatError(f"{per_user_file} is missing", hint=_INCOMPLETE)
    stored = _StoredRun(manifest, config, metrics, (lambda: _read_parquet(per_user_file)) if finished else None)

    while stored.version < SCHEMA_VERSION:
        migrate = MIGRATIONS.get(stored.version)
        if migrate is None:
            raise SchemaVersionError(f"{path / MANIFEST}: no migration from schema version {stored.version}")
        stored = migrate(stored)

    missing = [key for key in ("dataset", "model", "seed", "config_hash") if key not in stored.manifest]
    if missing:
        raise DataFormatError(f"{path / MANIFEST} lacks {missing}")
    return RunRecord(
        path=path,
        dataset=stored.manifest["dataset"],
        model=stored.manifest["model"],
        seed=int(stored.manifest["seed"]),
        config=stored.config,
        manifest=stored.manifest,
        metrics=stored.metrics,
        _per_user_loader=stored.load_per_user,
    )


def load_runs(
    results_dir: Path,
    *,
    dataset: str | None = None,
    model: str | None = None,
    include_failed: bool = False,
    broken: list[tuple[Path, str]] | None = None,
) -> list[RunRecord]:
    """Every run under ``results_dir``, sorted by (dataset, model, seed); staging folders are skipped.

    Filters match the folder names. A broken run folder raises (naming its file) rather than being
    silently left out of a report — unless ``broken`` is given: then every run is read in full
    (per-user records included) and each unreadable one is left out and appended to ``broken`` as
    (folder, problem naming the file), for the caller to report.
    """
    records = []
    for seed_dir in _run_folders(Path(results_dir), dataset, model):
        if not _SEED_DIR.match(seed_dir.name):
            continue
        if broken is None:
            record = load_run(seed_dir)
        else:
            record, problem = _checked_run(seed_dir)
            if record is None:
                broken.append((seed_dir, problem))
                continue
        if include_failed or record.status == "finished":
            records.append(record)
    return sorted(records, key=lambda record: (record.dataset, record.model, record.seed))


@dataclass(frozen=True)
class RunEntry:
    """One run folder as ``flexbench ls runs`` sees it, whatever its state.

    ``status`` is the manifest's ("finished", "failed"), or "unfinished" for a ``<run>.partial``
    folder (a run that was interrupted or is still going, with checkpoints), "unreadable" for a
    folder that cannot be loaded (``error`` says why) and "set aside" for one the runner moved aside
    as broken. ``kept_aside`` marks a finished run of another config (``seed-<n>@<hash>``), which a
    report can still select. ``record`` is None unless it was loaded.
    """

    path: Path
    dataset: str
    model: str
    seed: int | None
    status: str
    record: RunRecord | None = None
    error: str | None = None
    kept_aside: bool = False

    def summary(self) -> dict[str, Any]:
        """Plain data for listings: identity, status, profile, config hash, test metrics, wall time, dirty code."""
        record = self.record
        manifest = record.manifest if record else {}
        test = (record.metrics.get("test") or {}).get("overall", {}) if record else {}
        timings = manifest.get("timings") or {}
        return {
            "dataset": self.dataset, "model": self.model, "seed": self.seed, "status": self.status,
            "kept_aside": self.kept_aside,
            "profile": record.config.get("profile") if record else None,
            "config_hash": manifest.get("config_hash"),
            "test_recall@10": test.get("recall@10"), "test_ndcg@10": test.get("ndcg@10"),
            "wall_seconds": round(sum(timings.values()), 3) if timings else None,
            "dirty": (manifest.get("git") or {}).get("dirty"),
            "finished_at": manifest.get("finished_at"),
            "path": str(self.path), "error": self.error or _first_line(manifest.get("error")),
        }  # fmt: skip


def list_runs(results_dir: Path, *, dataset: str | None = None, model: str | None = None) -> list[RunEntry]:
    """Every run folder under ``results_dir``, sorted by (dataset, model, seed): finished, failed,
    unfinished and unreadable ones alike (a listing must show what a report leaves out)."""
    entries = []
    for folder in _run_folders(Path(results_dir), dataset, model):
        name, _, aside = folder.name.partition(BROKEN_TAG)
        match = _SEED_DIR.match(name.removesuffix(PARTIAL_SUFFIX))
        if match is None:
            continue
        where = dict(path=folder, dataset=folder.parent.parent.name, model=folder.parent.name, seed=int(match.group(1)))
        if aside:
            entries.append(RunEntry(**where, status="set aside", error="its files did not read back; moved aside by run"))
            continue
        if name.endswith(PARTIAL_SUFFIX):
            entries.append(RunEntry(**where, status="unfinished"))
            continue
        try:
            record = load_run(folder)
        except DataFormatError as exc:
            entries.append(RunEntry(**where, status="unreadable", error=exc.message))
            continue
        where.update(dataset=record.dataset, model=record.model, seed=record.seed)
        entries.append(RunEntry(**where, status=record.status, record=record, kept_aside=match.group(2) is not None))
    return sorted(entries, key=lambda e: (e.dataset, e.model, e.seed if e.seed is not None else -1, e.status))


def _run_folders(results_dir: Path, dataset: str | None, model: str | None) -> Iterator[Path]:
    """The folders at run depth (``<dataset>/<model>/<run>``), filtered by dataset and model folder names."""
    for dataset_dir in _visible_dirs(results_dir):
        if dataset is not None and dataset_dir.name != dataset:
            continue
        for model_dir in _visible_dirs(dataset_dir):
            if model is None or model_dir.name == model:
                yield from _visible_dirs(model_dir)


def _first_line(text: str | None) -> str | None:
    return text.splitlines()[0] if text else None


def is_finished(path: Path, config_hash: str) -> bool:
    """True when ``path`` holds a finished run made with this config hash whose files all read back (so the runner skips it)."""
    path = Path(path)
    try:
        manifest = _read_json(path / MANIFEST)
    except DataFormatError:
        return False  # missing or unreadable: the runner redoes it
    if manifest.get("status") != "finished" or manifest.get("config_hash") != config_hash:
        return False
    return check_run(path) is None


def check_run(path: Path) -> str | None:
    """None when ``path`` holds a complete run whose files all read back; otherwise the problem, naming the file.

    A finished run's per-user records are read and validated in full: a truncated or corrupt
    parquet file next to a good manifest is a broken run, not a finished one.
    """
    return _checked_run(Path(path))[1]


def _checked_run(path: Path) -> tuple[RunRecord | None, str | None]:
    try:
        record = load_run(path)
        if record.status == "finished":
            record.per_user  # noqa: B018 (reads and validates the file)
            _read_json(path / METRICS)
    except DataFormatError as exc:
        return None, exc.message
    return record, None


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


def _visible_dirs(folder: Path) -> list[Path]:
    # ".tmp-*" and ".old-*" are atomic_directory's staging and backup folders: never complete runs.
    if not folder.is_dir():
        return []
    return sorted(child for child in folder.iterdir() if child.is_dir() and not child.name.startswith("."))


def _read_json(file: Path) -> dict:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataFormatError(f"{file} is missing", hint=_INCOMPLETE) from exc
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{file} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DataFormatError(f"{file} must hold a JSON object")
    return data


def _read_yaml(file: Path) -> dict:
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataFormatError(f"{file} is missing", hint=_INCOMPLETE) from exc
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise DataFormatError(f"{file} is not readable YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise DataFormatError(f"{file} must hold a mapping")
    return data


def _read_parquet(file: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(file)
    except FileNotFoundError as exc:
        raise DataFormatError(f"{file} is missing") from exc
    except Exception as exc:  # pyarrow raises its own hierarchy; whatever it is, name the file
        raise DataFormatError(f"{file} is not a readable parquet file: {exc}") from exc
