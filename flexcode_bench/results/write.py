"""Writing a run: validated first, then the whole folder replaced atomically (``atomic_directory``),
so a reader sees the previous complete run or the new one, never a mixture."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from flexcode_bench.atomic import atomic_directory
from flexcode_bench.config import stable_hash
from flexcode_bench.errors import ConfigError
from flexcode_bench.provenance import SCHEMA_VERSION
from flexcode_bench.results.layout import CONFIG, MANIFEST, METRICS, PER_USER
from flexcode_bench.results.records import normalise_per_user, summarise


def write_run(
    path: Path, *, per_user: pd.DataFrame, config: dict, manifest: dict, extra_files: Mapping[str, Path] | None = None
) -> None:
    """Write a finished run (all four files) and atomically replace whatever was at ``path``.

    Everything is validated before anything touches the disk; a failure while writing leaves the
    previous complete run (or nothing), never a partial folder. ``extra_files`` (name → file) are
    copied in too (``--keep-checkpoints`` keeps the best weights as ``model.pt``).
    """
    frame = normalise_per_user(per_user, "per_user")
    config_out, manifest_out = _resolved_config_and_manifest(config, manifest)
    if manifest_out.get("status") != "finished":
        raise ValueError(
            f"write_run records finished runs; manifest status is {manifest_out.get('status')!r} (use write_failed_run)"
        )
    metrics = summarise(frame)
    with atomic_directory(path) as staging:
        _write_parquet(frame, staging / PER_USER)
        _write_json(metrics, staging / METRICS)
        (staging / CONFIG).write_text(config_text(config_out), encoding="utf-8")
        for name, source in (extra_files or {}).items():
            shutil.copyfile(source, staging / name)
        _write_json(manifest_out, staging / MANIFEST)


def write_failed_run(path: Path, *, config: dict, manifest: dict) -> None:
    """Record a failed run (config.yaml + manifest.json with status "failed"), atomically replacing ``path``."""
    config_out, manifest_out = _resolved_config_and_manifest(config, manifest)
    manifest_out["status"] = "failed"
    with atomic_directory(path) as staging:
        (staging / CONFIG).write_text(config_text(config_out), encoding="utf-8")
        _write_json(manifest_out, staging / MANIFEST)


def _resolved_config_and_manifest(config: Mapping[str, Any], manifest: Mapping[str, Any]) -> tuple[dict, dict]:
    digest = stable_hash(config)
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


def config_text(config: Mapping[str, Any]) -> str:
    """A resolved config as its ``config.yaml`` reads: plain JSON types, keys in their order. The run folder
    and an unfinished run's partial folder write it alike."""
    plain = json.loads(json.dumps(dict(config)))
    return yaml.safe_dump(plain, sort_keys=False, allow_unicode=True)


def _json_default(value: Any) -> Any:
    # Diagnostics often carry numpy scalars or arrays; a run must not fail at its last step over them.
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
