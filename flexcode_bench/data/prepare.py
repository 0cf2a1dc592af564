"""``prepare``: catalogue entry → raw files → reader → preprocessing → prepared folder → embeddings.

The prepared folder is replaced atomically, so an interrupted ``prepare`` leaves the previous
complete folder (or none), never a half-written one. Re-running is a no-op when the inputs'
checksums and the processing config are unchanged; ``force`` redoes it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from flexcode_bench import __version__, console
from flexcode_bench.config import PrepareConfig, stable_hash
from flexcode_bench.data import prepared as layout
from flexcode_bench.data.catalogue import DatasetSpec, load_catalogue
from flexcode_bench.data.raw import RawDataset
from flexcode_bench.errors import DataFormatError

# Bump when preprocessing logic changes in a way that changes its output: it invalidates old folders.
PREPROCESS_VERSION = 1


@dataclass
class PrepareResult:
    """What ``prepare`` did, for the CLI to render and for callers to inspect."""

    dataset: str
    path: Path
    stats: dict
    reused: bool  # True when the prepared folder was already up to date
    warnings: list[str] = field(default_factory=list)
    quarantined: int = 0
    embeddings: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)


def prepare(config: PrepareConfig) -> PrepareResult:
    """Prepare one dataset (see the module docstring). Returns what was done."""
    from flexcode_bench.data.download import fetch_source

    timings: dict[str, float] = {}
    spec = load_catalogue(config.catalogue).get(config.dataset)
    source_name, source = spec.source(config.source)
    k_core = config.k_core if config.k_core is not None else spec.k_core
    template = spec.template_for(source_name)
    out_dir = config.data_dir / config.dataset

    started = time.perf_counter()
    fetched = fetch_source(spec, source_name, config.data_dir / "raw", mirror=config.mirror, raw_dir=config.raw_dir)
    timings["fetch"] = time.perf_counter() - started

    processing = {
        "dataset": config.dataset,
        "source": source_name,
        "format": source.format,
        "k_core": k_core,
        "text_template": template,
        "preprocess_version": PREPROCESS_VERSION,
        "inputs": {role: f.sha256 for role, f in sorted(fetched.items())},
    }
    input_key = stable_hash(processing)

    reused = not config.force and _up_to_date(out_dir, input_key)
    warnings: list[str] = []
    quarantined = 0
    if reused:
        console.info(f"{config.dataset}: prepared data in {out_dir} is up to date (use --force to redo)")
    else:
        started = time.perf_counter()
        quarantined, warnings = _build(spec, source_name, fetched, k_core, template, processing, input_key, out_dir)
        timings["preprocess"] = time.perf_counter() - started

    stats = json.loads((out_dir / layout.STATS).read_text())
    warnings += _check_expected(spec, stats)
    for message in warnings:
        console.warning(message)

    embeddings_path = None
    if config.encoder != "none":
        from flexcode_bench.data.embeddings import item_embeddings

        started = time.perf_counter()
        texts = pd.read_parquet(out_dir / layout.ITEMS, columns=["text"])["text"].tolist()
        _, cache = item_embeddings(
            out_dir, config.dataset, texts, template, encoder=config.encoder, device=config.device, force=config.force
        )
        embeddings_path = cache.path
        timings["embeddings"] = time.perf_counter() - started

    return PrepareResult(
        dataset=config.dataset,
        path=out_dir,
        stats=stats,
        reused=reused,
        warnings=warnings,
        quarantined=quarantined,
        embeddings=embeddings_path,
        timings=timings,
    )


def _up_to_date(out_dir: Path, input_key: str) -> bool:
    manifest = out_dir / layout.MANIFEST
    if not manifest.is_file():
        return False
    try:
        return json.loads(manifest.read_text()).get("input_key") == input_key
    except json.JSONDecodeError:
        return False


def _build(
    spec: DatasetSpec,
    source_name: str,
    fetched: dict,
    k_core: int,
    template: str,
    processing: dict,
    input_key: str,
    out_dir: Path,
) -> tuple[int, list[str]]:
    from flexcode_bench.data.readers import READERS

    source = spec.sources[source_name]
    reader = READERS.get(source.format)
    with console.status.status(f"reading {spec.name} ({source.format})"):
        try:
            raw = reader({role: f.path for role, f in fetched.items()})
        except DataFormatError as exc:
            _forget_bad_download(exc, fetched)
            raise
    sources = {
        role: {"file": str(f.path) if f.path else None, "url": f.url, "sha256": f.sha256, "origin": f.source}
        for role, f in sorted(fetched.items())
    }
    return prepare_raw(
        raw, name=spec.name, out_dir=out_dir, k_core=k_core, template=template,
        manifest_extra={"input_key": input_key, "processing": processing, "sources": sources},
    )  # fmt: skip


def prepare_raw(
    raw: RawDataset,
    *,
    name: str,
    out_dir: Path,
    k_core: int = 5,
    template: str = "title: {title}",
    manifest_extra: dict | None = None,
) -> tuple[int, list[str]]:
    """Preprocess an in-memory :class:`RawDataset` and write the prepared folder atomically.

    This is the path every catalogue dataset takes after its reader; it is public so that data from
    elsewhere (a DataFrame of your own) gets exactly the same treatment. Returns the number of
    quarantined lines and the warnings to show.
    """
    from flexcode_bench.atomic import atomic_directory
    from flexcode_bench.data.item_text import render_item_texts
    from flexcode_bench.data.preprocess import preprocess

    with console.status.status(f"preprocessing {name} (k-core {k_core}, leave-one-out)"):
        processed = preprocess(raw, k_core=k_core)
        items = processed.items.copy()
        items.insert(2, "text", render_item_texts(template, items))
        stats = processed.stats()
        stats["quarantined_lines"] = len(raw.quarantine)
        stats["lines_read"] = raw.lines_read

    manifest = {
        "dataset": name,
        "package_version": __version__,
        **(manifest_extra or {}),
        "policies": processed.policies,
        "fingerprint": _fingerprint(processed.interactions, items),
        "has_timestamps": raw.has_timestamps,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with atomic_directory(out_dir) as staging:
        processed.interactions.to_parquet(staging / layout.INTERACTIONS, index=False)
        processed.users.to_parquet(staging / layout.USERS, index=False)
        items.to_parquet(staging / layout.ITEMS, index=False)
        (staging / layout.STATS).write_text(json.dumps(stats, indent=2))
        if raw.quarantine:
            with open(staging / layout.QUARANTINE, "w", encoding="utf-8") as sink:
                for line in raw.quarantine:
                    sink.write(json.dumps(line.__dict__) + "\n")
        # Embedding caches are keyed by content, so keeping them across a rebuild is safe and saves minutes.
        old_embeddings = out_dir / layout.EMBEDDINGS_DIR
        if old_embeddings.is_dir():
            shutil.copytree(old_embeddings, staging / layout.EMBEDDINGS_DIR)
        # Per-file checksums let `run` refuse a dataset whose files changed after prepare, naming the file.
        manifest["files"] = {
            file: layout.file_sha256(staging / file) for file in (layout.INTERACTIONS, layout.USERS, layout.ITEMS, layout.STATS)
        }
        (staging / layout.MANIFEST).write_text(json.dumps(manifest, indent=2))

    warnings = []
    if raw.quarantine:
        files = sorted({q.file for q in raw.quarantine})
        warnings.append(
            f"{len(raw.quarantine):,} malformed line(s) of {raw.lines_read:,} skipped in {', '.join(files)}; "
            f"see {out_dir / layout.QUARANTINE}"
        )
    return len(raw.quarantine), warnings


def _forget_bad_download(exc: DataFormatError, fetched: dict) -> None:
    """A truncated *downloaded* file is deleted (with its lock entry) so the next run fetches it again.

    Files the user placed by hand (``--raw-dir``) or that a package ships are never touched.
    """
    from flexcode_bench.data.checksum_lock import LOCK_FILE, ChecksumLock

    for f in fetched.values():
        damaged = "truncated" in exc.message and f.path is not None and str(f.path) in exc.message
        if damaged and f.source in ("download", "cache"):
            f.path.unlink(missing_ok=True)
            lock = ChecksumLock(f.path.parent / LOCK_FILE)
            lock.forget(f.path.name)
            lock.save()
            exc.hint = f"the damaged download {f.path} was deleted; run the command again to fetch it anew"


def _fingerprint(interactions: pd.DataFrame, items: pd.DataFrame) -> str:
    """Content hash of the prepared data, independent of the Parquet writer's bytes."""
    digest = hashlib.sha256()
    for column in ("user", "item", "position"):
        digest.update(np.ascontiguousarray(interactions[column].to_numpy(dtype=np.int64)).tobytes())
    digest.update("\n".join(interactions["split"].astype(str)).encode())
    digest.update("\n".join(items["original_id"].astype(str)).encode())
    digest.update("\n".join(items["text"].astype(str)).encode())
    return digest.hexdigest()[:16]


def _check_expected(spec: DatasetSpec, stats: dict) -> list[str]:
    if spec.expected is None:
        return []
    problems = []
    for key, expected in spec.expected.model_dump().items():
        seen = stats.get(key)
        if seen != expected:
            problems.append(f"{spec.name}: {key} is {seen:,} after preprocessing but the published figure is {expected:,}")
    return problems
