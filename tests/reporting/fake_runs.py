"""Hand-made run records with known per-user values, written through the real ``write_run``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from flexcode_bench.config import stable_hash as config_hash
from flexcode_bench.provenance import build_manifest
from flexcode_bench.results import run_dir, write_run

PROTOCOL = {"split": "leave-one-out", "mask_history": False, "tie_policy": "pessimistic", "ks": [5, 10, 20], "buckets": "share"}
BUCKETS_DIAGNOSTIC = {
    "scheme": {"name": "share", "head": 0.2, "torso": 0.3},
    "thresholds": {"head": {"n_items": 2}, "torso": {"n_items": 3}, "tail": {"n_items": 5}, "cold": {"n_items": 0}},
}


def write_fake_run(
    results_dir: Path,
    *,
    dataset: str = "toy",
    model: str,
    seed: int = 0,
    values: Mapping[str, Sequence[float]],
    users: Sequence[int] | None = None,
    targets: Sequence[int] | None = None,
    buckets: Sequence[str] | None = None,
    protocol: Mapping | None = None,
    diagnostics: Mapping | None = None,
) -> Path:
    """One finished run whose test users score ``values[metric][i]``; validation rows copy the test rows."""
    n = len(next(iter(values.values())))
    users = list(range(n)) if users is None else list(users)
    test = pd.DataFrame(
        {
            "split": "test",
            "user_id": np.asarray(users, dtype="int64"),
            "target_item": np.asarray(targets if targets is not None else [u % 7 for u in users], dtype="int64"),
            "rank": pd.array([None] * n, dtype="Int64"),
            "bucket": list(buckets) if buckets is not None else ["head"] * n,
            **{metric: np.asarray(column, dtype=float) for metric, column in values.items()},
        }
    )
    per_user = pd.concat([test, test.assign(split="valid")], ignore_index=True)
    config = {"dataset": dataset, "model": model, "seed": seed}
    manifest = build_manifest(
        dataset=dataset, dataset_fingerprint="fp", model=model, seed=seed, device="cpu",
        config_hash=config_hash(config), protocol=dict(protocol or PROTOCOL), timings={"train": 1.0}, status="finished",
        diagnostics={"buckets": BUCKETS_DIAGNOSTIC, **(diagnostics or {})},
    )  # fmt: skip
    path = run_dir(results_dir, dataset, model, seed)
    write_run(path, per_user=per_user, config=config, manifest=manifest)
    return path


def three_models(results_dir: Path, n_users: int = 40, tiger_gain: float = 0.015) -> dict[str, dict[int, dict[str, np.ndarray]]]:
    """toy: flexcode, sasrec (clearly worse on NDCG@10) and tiger (NDCG@10 slightly higher), 2 seeds each.

    With the default ``tiger_gain`` tiger's NDCG@10 gain has a raw t-test p ≈ 0.025 that Holm
    lifts above 0.05, so the correction visibly removes a marker.

    Users 0..n/2-1 have head targets, the rest tail. Returns model → seed → metric → per-user values.
    """
    rng = np.random.default_rng(7)
    buckets = ["head"] * (n_users // 2) + ["tail"] * (n_users - n_users // 2)
    values: dict[str, dict[int, dict[str, np.ndarray]]] = {"flexcode": {}, "sasrec": {}, "tiger": {}}
    for seed in (0, 1):
        ndcg = rng.uniform(0.2, 0.6, n_users)
        values["flexcode"][seed] = {"recall@10": (rng.random(n_users) < 0.5).astype(float), "ndcg@10": ndcg}
        values["sasrec"][seed] = {
            "recall@10": (rng.random(n_users) < 0.5).astype(float),
            "ndcg@10": np.clip(ndcg - 0.15 + rng.normal(0, 0.05, n_users), 0, 1),
        }
        values["tiger"][seed] = {
            "recall@10": values["flexcode"][seed]["recall@10"][::-1].copy(),
            "ndcg@10": np.clip(ndcg + tiger_gain + rng.normal(0, 0.05, n_users), 0, 1),
        }
    for model, seeds in values.items():
        for seed, columns in seeds.items():
            write_fake_run(results_dir, model=model, seed=seed, values=columns, buckets=buckets)
    return values
