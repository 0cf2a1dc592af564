"""Run records for the results tests: a small per-user frame, its config and manifest, a v0 run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from flexcode_bench.config import stable_hash as config_hash
from flexcode_bench.provenance import build_manifest, utc_now
from flexcode_bench.results import run_dir, summarise, write_run

PROTOCOL = {
    "split": "leave-one-out, stable sort on timestamp",
    "history_masking": False,
    "ties": "pessimistic",
    "ks": [5, 10],
    "buckets": {"scheme": "item-share", "head": 0.2, "torso": 0.3},
}


def make_per_user() -> pd.DataFrame:
    """Six users, each with a valid and a test target; user 5's test target was never ranked."""
    return pd.DataFrame(
        {
            "split": ["valid"] * 6 + ["test"] * 6,
            "user_id": np.array([0, 1, 2, 3, 4, 5] * 2, dtype="int64"),
            "target_item": np.array([10, 11, 12, 13, 14, 15, 20, 21, 22, 23, 24, 25], dtype="int64"),
            "rank": pd.array([1, 2, 7, None, 3, 1, 1, 6, None, 2, 4, None], dtype="Int64"),
            "bucket": ["head", "head", "torso", "tail", "cold", "tail"] * 2,
            "recall@5": [1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0],
            "mrr@5": [1.0, 0.5, 0.0, 0.0, 1 / 3, 1.0, 1.0, 0.0, 0.0, 0.5, 0.25, 0.0],
        }
    )


def make_config(**overrides: object) -> dict:
    return {"dataset": "toy", "model": {"name": "sasrec", "hidden": 64}, "seed": 0, "profile": "smoke", **overrides}


def make_manifest(
    config: dict, *, status: str = "finished", dataset: str = "toy", model: str = "sasrec", seed: int = 0
) -> dict:
    return build_manifest(
        dataset=dataset,
        dataset_fingerprint="f" * 16,
        model=model,
        seed=seed,
        device="cpu",
        config_hash=config_hash(config),
        protocol=PROTOCOL,
        timings={"fit": 1.5, "evaluate": 0.25},
        status=status,
        error="RuntimeError: boom\n\nTraceback ..." if status == "failed" else None,
        diagnostics={"invalid_id_rate": np.float64(0.0)},
        started_at=utc_now(),
    )


def write_finished(
    results_dir: Path, *, dataset: str = "toy", model: str = "sasrec", seed: int = 0, **config_overrides: object
) -> Path:
    config = make_config(**config_overrides)
    path = run_dir(results_dir, dataset, model, seed)
    manifest = make_manifest(config, dataset=dataset, model=model, seed=seed)
    write_run(path, per_user=make_per_user(), config=config, manifest=manifest)
    return path


def leftovers(folder: Path) -> list[str]:
    """Staging (.tmp-*) and backup (.old-*) folders that atomic_directory left in ``folder``."""
    if not folder.exists():
        return []
    return sorted(child.name for child in folder.iterdir() if child.name.startswith((".tmp-", ".old-")))


def write_v0_run(path: Path) -> pd.DataFrame:
    """A run as v0 wrote it: test rows only, no split column, flat metrics, no schema_version."""
    frame = make_per_user()
    v0 = frame[frame["split"] == "test"].drop(columns="split").reset_index(drop=True)
    path.mkdir(parents=True)
    v0.to_parquet(path / "per_user.parquet", index=False)
    flat = summarise(frame)["test"]
    (path / "metrics.json").write_text(json.dumps({"overall": flat["overall"], "by_bucket": flat["by_bucket"]}))
    config = make_config()
    (path / "config.yaml").write_text(yaml.safe_dump(config))
    manifest = {k: v for k, v in make_manifest(config).items() if k != "schema_version"}
    (path / "manifest.json").write_text(json.dumps(manifest, default=float))
    return v0
