"""Run specs → trained, evaluated, recorded runs.

A run is a pure function of its :class:`RunConfig` and the prepared data, and writes only inside its
own run directory, so a grid can later be fanned out by another executor without touching models.
A finished run whose config hash matches is skipped; a failed one records its status and error.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from flexcode_bench import console
from flexcode_bench.config import ProtocolConfig, RunConfig, stable_hash
from flexcode_bench.executors import LOCAL, ExecutorConfig
from flexcode_bench.recommender import EpochReport, ScoringRecommender


@dataclass
class RunOutcome:
    config: RunConfig
    path: Path
    status: str  # "finished" | "skipped" | "failed"
    config_hash: str
    test_metrics: dict[str, float] | None = None
    error: str | None = None
    seconds: float = 0.0


def resolved_config(config: RunConfig) -> tuple[dict, object]:
    """The full config that is hashed and saved, and the model it describes (built, not trained)."""
    from flexcode_bench.models import model_factory

    model = model_factory(config.model)(config.profile, config.model_overrides)
    if hasattr(model.config, "mask_history"):  # a model that validates itself follows the run's protocol
        model.config.mask_history = config.protocol.mask_history
    resolved = config.identity()
    resolved["model_config"] = dataclasses.asdict(model.config)
    resolved["config_hash"] = stable_hash(resolved)
    return resolved, model


def run_one(config: RunConfig, *, force: bool = False, on_epoch: Callable[[EpochReport], None] | None = None) -> RunOutcome:
    """Train, evaluate and record one run (or skip it when an identical one is finished)."""
    from flexcode_bench.provenance import code_version, describe_exception, utc_now
    from flexcode_bench.results import build_manifest, write_failed_run, write_run

    code_version()  # pins the checkout this process's code came from before anything is trained
    plan, resolved, model = _plan(config, force=force)
    path = plan.path
    if plan.action == "skip":
        return RunOutcome(config, path, "skipped", plan.config_hash)

    started_at = utc_now()
    timings: dict[str, float] = {}
    device = "unknown"
    dataset_fingerprint = ""
    manifest_args = dict(dataset=config.dataset, model=config.model, seed=config.seed, config_hash=resolved["config_hash"],
                         protocol=config.protocol.model_dump(mode="json"), started_at=started_at)  # fmt: skip
    try:
        from flexcode_bench.data.prepared import load_prepared
        from flexcode_bench.device import resolve_device
        from flexcode_bench.evaluation.buckets import BucketScheme, popularity_buckets
        from flexcode_bench.seeding import seed_everything

        t0 = time.perf_counter()
        data = load_prepared(config.dataset, config.data_dir)
        dataset_fingerprint = data.fingerprint
        device = resolve_device(config.device)
        seed_everything(config.seed)
        timings["load"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        fit = model.fit(data, device=device, seed=config.seed, on_epoch=on_epoch)
        timings["train"] = time.perf_counter() - t0

        buckets = popularity_buckets(data.train_counts, BucketScheme(config.protocol.buckets))
        frames = []
        for split in ("valid", "test"):
            t0 = time.perf_counter()
            ranks = evaluate_split(model, data, split, config.protocol, chunk_size=config.eval_chunk_size)
            timings[f"evaluate_{split}"] = time.perf_counter() - t0
            frames.append(per_user_frame(split, data.targets(split), ranks, buckets.of(data.targets(split)), config.protocol))
        per_user = pd.concat(frames, ignore_index=True)

        diagnostics = {
            "training_curve": [dataclasses.asdict(e) for e in fit.epochs],
            "best_epoch": fit.best_epoch,
            "best_valid_metric": fit.best_valid_metric,
            "buckets": buckets.to_dict(),
            **fit.diagnostics,
        }
        manifest = build_manifest(**manifest_args, dataset_fingerprint=dataset_fingerprint, device=device,
                                  timings=timings, status="finished", diagnostics=diagnostics)  # fmt: skip
        write_run(path, per_user=per_user, config=resolved, manifest=manifest)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a failed run is recorded, not lost; the grid goes on
        manifest = build_manifest(**manifest_args, dataset_fingerprint=dataset_fingerprint, device=device,
                                  timings=timings, status="failed",
                                  error=describe_exception(exc))  # fmt: skip
        write_failed_run(path, config=resolved, manifest=manifest)
        return RunOutcome(config, path, "failed", resolved["config_hash"], error=f"{type(exc).__name__}: {exc}",
                          seconds=sum(timings.values()))  # fmt: skip
    test = per_user[per_user["split"] == "test"]
    test_metrics = {c: float(test[c].mean()) for c in test.columns if "@" in c}
    return RunOutcome(config, path, "finished", resolved["config_hash"], test_metrics=test_metrics,
                      seconds=sum(timings.values()))  # fmt: skip


def evaluate_split(model: object, data, split: str, protocol: ProtocolConfig, *, chunk_size: int) -> np.ndarray:
    """1-based rank of each user's target over the full catalogue (0 = never ranked)."""
    from flexcode_bench.evaluation.ranking import rank_in_topk, rank_targets

    histories = data.history(split)
    targets = data.targets(split)
    if not isinstance(model, ScoringRecommender):
        k = max(protocol.ks)
        users = np.arange(len(histories), dtype=np.int64)  # row index = user id in a prepared dataset
        topk = np.concatenate(
            [
                model.recommend(users[i : i + chunk_size], histories[i : i + chunk_size], k)
                for i in range(0, len(histories), chunk_size)
            ]
        )
        return rank_in_topk(topk, targets, n_items=data.n_items)
    return rank_targets(
        lambda rows: model.score([histories[r] for r in rows]),
        targets,
        n_items=data.n_items,
        histories=histories,
        mask_history=protocol.mask_history,
        chunk_size=chunk_size,
        tie_policy=protocol.tie_policy,
    )


def per_user_frame(
    split: str, targets: np.ndarray, ranks: np.ndarray, buckets: np.ndarray, protocol: ProtocolConfig
) -> pd.DataFrame:
    from flexcode_bench.evaluation.metrics import per_user_metrics

    rank = pd.array(ranks, dtype="Int64")
    rank[ranks <= 0] = pd.NA  # never ranked (masked or outside a generative top-K)
    frame = pd.DataFrame(
        {
            "split": split,
            "user_id": np.arange(len(targets), dtype=np.int64),
            "target_item": targets.astype(np.int64),
            "rank": rank,
            "bucket": buckets.astype(str),
        }
    )
    for name, values in per_user_metrics(ranks, protocol.ks).items():
        frame[name] = values
    return frame


@dataclass
class PlannedRun:
    config: RunConfig
    path: Path
    config_hash: str
    action: str  # "run" | "skip" (finished, same config) | "redo" (failed, interrupted or changed)


def plan_grid(configs: Sequence[RunConfig], *, force: bool = False) -> list[PlannedRun]:
    """What ``run_grid`` would do, without training anything (``flexbench run --dry-run``)."""
    return [_plan(config, force=force)[0] for config in configs]


def _plan(config: RunConfig, *, force: bool) -> tuple[PlannedRun, dict, object]:
    """The one rule for skipping a run, shared by ``run_one`` and ``plan_grid``; also the resolved config and model."""
    from flexcode_bench.results import is_finished, run_dir

    resolved, model = resolved_config(config)
    path = run_dir(config.results_dir, config.dataset, config.model, config.seed)
    if not force and is_finished(path, resolved["config_hash"]):
        action = "skip"
    else:
        action = "redo" if path.exists() else "run"
    return PlannedRun(config, path, resolved["config_hash"], action), resolved, model


def run_grid(configs: Sequence[RunConfig], *, force: bool = False, executor: ExecutorConfig = LOCAL) -> list[RunOutcome]:
    """Run every config in order with a live view; failures are recorded and the grid goes on.

    Ctrl-C stops the grid: the interrupted run leaves nothing behind (run folders are written
    atomically) and a rerun skips every finished run. ``executor`` sends the runs elsewhere
    (``kind="ray"``: :mod:`flexcode_bench.executors.ray`) under the same rules.
    """
    if executor.kind == "ray":
        from flexcode_bench.executors.ray import run_grid_on_ray

        return run_grid_on_ray(configs, force=force, executor=executor)
    outcomes: list[RunOutcome] = []
    with console.progress() as bar:
        task = bar.add_task("runs", total=len(configs))
        for config in configs:
            label = f"{_tally(outcomes, len(configs))} │ {config.dataset} · {config.model} · seed {config.seed}"
            bar.update(task, description=label)

            def on_epoch(report: EpochReport, label: str = label) -> None:
                metric = "—" if report.valid_metric is None else f"{report.valid_metric:.4f}"
                line = f"{label} · epoch {report.epoch} · loss {report.train_loss:.3f} · valid {metric}"
                bar.update(task, description=line)
                if not console.status.is_terminal:  # logs and CI get one line per epoch instead of a live bar
                    console.info(f"{line} ({report.seconds:.1f} s)")

            outcome = run_one(config, force=force, on_epoch=on_epoch)
            outcomes.append(outcome)
            _announce(outcome)
            bar.advance(task)
    return outcomes


def _tally(outcomes: Sequence[RunOutcome], total: int) -> str:
    done = sum(o.status in ("finished", "skipped") for o in outcomes)
    failed = sum(o.status == "failed" for o in outcomes)
    return f"done {done} · failed {failed} · running 1 · left {total - len(outcomes) - 1}"


def _announce(outcome: RunOutcome) -> None:
    label = f"{outcome.config.dataset} · {outcome.config.model} · seed {outcome.config.seed}"
    if outcome.status == "skipped":
        console.info(f"[dim]skipped[/dim] {label} (finished, config {outcome.config_hash})")
    elif outcome.status == "failed":
        console.error(f"{label} failed: {outcome.error}", hint=f"details in {outcome.path / 'manifest.json'}")
    else:
        metrics = outcome.test_metrics or {}
        console.success(
            f"{label}: test NDCG@10 {metrics.get('ndcg@10', float('nan')):.4f}, "
            f"Recall@10 {metrics.get('recall@10', float('nan')):.4f} ({outcome.seconds:.1f} s)"
        )
