"""Listing every run folder, whatever its state (``flexbench ls runs``): finished, failed, unfinished,
unreadable, set aside or kept aside."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flexcode_bench.errors import DataFormatError
from flexcode_bench.results.layout import BROKEN_TAG, PARTIAL_SUFFIX, SEED_DIR, run_folders
from flexcode_bench.results.load import RunRecord, load_run


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
    for folder in run_folders(Path(results_dir), dataset, model):
        name, _, aside = folder.name.partition(BROKEN_TAG)
        match = SEED_DIR.match(name.removesuffix(PARTIAL_SUFFIX))
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


def _first_line(text: str | None) -> str | None:
    return text.splitlines()[0] if text else None
