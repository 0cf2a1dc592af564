"""Reading runs back: one folder, or every run under a results folder, migrating old schemas;
checking that a run's files all read back."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd
import yaml

from flexcode_bench import __version__
from flexcode_bench.errors import DataFormatError
from flexcode_bench.provenance import SCHEMA_VERSION, STATUSES
from flexcode_bench.results.layout import CONFIG, INCOMPLETE, MANIFEST, METRICS, PER_USER, SEED_DIR, run_folders
from flexcode_bench.results.migrations import MIGRATIONS, StoredRun
from flexcode_bench.results.records import normalise_per_user


class SchemaVersionError(DataFormatError):
    """A run record has a schema version this flexbench cannot read (newer, or with no migrator)."""


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
        return normalise_per_user(self._per_user_loader(), str(self.path / PER_USER))

    @property
    def status(self) -> str:
        return self.manifest["status"]

    @property
    def config_hash(self) -> str:
        return self.manifest["config_hash"]

    @property
    def protocol(self) -> dict:
        return self.manifest.get("protocol", {})


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
        raise DataFormatError(f"{per_user_file} is missing", hint=INCOMPLETE)
    stored = StoredRun(manifest, config, metrics, (lambda: _read_parquet(per_user_file)) if finished else None)

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
    for seed_dir in run_folders(Path(results_dir), dataset, model):
        if not SEED_DIR.match(seed_dir.name):
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


def _read_json(file: Path) -> dict:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataFormatError(f"{file} is missing", hint=INCOMPLETE) from exc
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{file} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DataFormatError(f"{file} must hold a JSON object")
    return data


def _read_yaml(file: Path) -> dict:
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataFormatError(f"{file} is missing", hint=INCOMPLETE) from exc
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
