"""Run specs → trained, evaluated, recorded runs.

A run is a pure function of its :class:`RunConfig` and the prepared data, and writes only inside its
own run directory, so a grid can later be fanned out by another executor without touching models.
A finished run whose config hash matches is skipped; a failed one records its status and error.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from flexcode_bench import console, shared_stages
from flexcode_bench.config import ProtocolConfig, RunConfig, stable_hash
from flexcode_bench.executors import LOCAL, ExecutorConfig
from flexcode_bench.recommender import EpochReport, ScoringRecommender


@dataclass
class RunOutcome:
    config: RunConfig
    path: Path
    status: str  # "finished" | "skipped" | "failed" | "busy" (another worker holds its lock)
    config_hash: str
    test_metrics: dict[str, float] | None = None
    error: str | None = None
    seconds: float = 0.0
    resumed_from_epoch: int | None = None


def resolved_config(config: RunConfig) -> tuple[dict, object]:
    """The full config that is hashed and saved, and the model it describes (built, not trained).

    The model's options are resolved here once, by its registry spec: defaults < profile < overrides
    < what the entry pins, type-checked, then the run's protocol applied (history masking, top-K).
    """
    from flexcode_bench.models import model_spec

    spec = model_spec(config.model)
    model_config = spec.resolve(config.profile, config.model_overrides, config.protocol)
    resolved = config.identity()
    resolved["model_config"] = dataclasses.asdict(model_config)
    resolved["config_hash"] = stable_hash(resolved)
    return resolved, spec.build(model_config)


def run_one(
    config: RunConfig,
    *,
    force: bool = False,
    on_epoch: Callable[[EpochReport], None] | None = None,
    keep_checkpoints: bool = False,
    wait: bool = True,
) -> RunOutcome:
    """Train, evaluate and record one run (or skip it when an identical one is finished).

    The run's lock (``<run>.lock``, see :mod:`flexcode_bench.locks`) is held from the decision to
    train until the record is written, so workers sharing a results folder never train a run twice;
    with ``wait=False`` a run another worker holds returns at once with status "busy". An
    unfinished run resumes from its checkpoints in ``<run>.partial/`` (see :mod:`flexcode_bench.resume`).
    """
    from flexcode_bench.locks import FileLock, describe_holder, lock_path_for
    from flexcode_bench.provenance import code_version
    from flexcode_bench.results import is_finished

    code_version()  # pins the checkout this process's code came from before anything is trained
    plan, resolved, model = _plan(config, force=force)
    path = plan.path
    if plan.action == "skip":
        return RunOutcome(config, path, "skipped", plan.config_hash)
    lock = FileLock(lock_path_for(path))
    if not lock.acquire(wait=wait):
        return RunOutcome(config, path, "busy", plan.config_hash, error=f"{describe_holder(lock.holder())} is running it")
    try:
        if not force and is_finished(path, plan.config_hash):  # the worker we waited for finished it
            return RunOutcome(config, path, "skipped", plan.config_hash)
        if _clear_the_way(path, plan.config_hash, restore=not force):
            return RunOutcome(config, path, "skipped", plan.config_hash)
        return _train_and_record(config, path, resolved, model, lock, on_epoch=on_epoch, keep_checkpoints=keep_checkpoints)
    finally:
        lock.release()


def _clear_the_way(path: Path, config_hash: str, *, restore: bool) -> bool:
    """Before (re)training ``path``: keep a finished run of another config aside, move a broken one aside.

    Nothing is deleted. Returns True when a finished run of *this* config kept aside earlier was
    put back instead (then there is nothing to train).
    """
    from flexcode_bench.results import MANIFEST, check_run, is_finished, set_aside

    if path.exists():
        problem = check_run(path)
        if problem is not None:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            aside = set_aside(path, f".broken-{stamp}")
            console.warning(f"{problem}; moved the broken run folder to {aside} and redoing the run")
        else:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
            if manifest["status"] == "finished" and manifest["config_hash"] != config_hash:
                aside = set_aside(path, f"@{manifest['config_hash']}")
                console.info(f"kept the finished run of config {manifest['config_hash']} aside in {aside}")
    kept = path.with_name(f"{path.name}@{config_hash}")
    if restore and not path.exists() and is_finished(kept, config_hash):
        kept.rename(path)
        console.info(f"put back the finished run of config {config_hash} from {kept}")
        return True
    return False


def _train_and_record(
    config: RunConfig, path: Path, resolved: dict, model: object, lock, *, on_epoch, keep_checkpoints: bool
) -> RunOutcome:
    from flexcode_bench.locks import LockLost
    from flexcode_bench.provenance import build_manifest, describe_exception, utc_now
    from flexcode_bench.results import write_failed_run, write_run
    from flexcode_bench.resume import PartialRun

    partial = PartialRun(path, resolved)
    label = f"{config.dataset} · {config.model} · seed {config.seed}"
    if partial.from_epoch:
        console.info(f"{label}: resuming after epoch {partial.from_epoch} (checkpoint in {partial.path})")
    elif partial.resumed:
        console.info(f"{label}: resuming; no epoch had finished, reusing the stages cached in {partial.path}")

    def progress(report: EpochReport) -> None:
        partial.progress(report.epoch)
        lock.check()  # another worker took the run over (we stalled): stop rather than train it twice
        if on_epoch is not None:
            on_epoch(report)

    started_at = utc_now()
    timings: dict[str, float] = {}
    device = "unknown"
    dataset_fingerprint = ""
    manifest_args = dict(dataset=config.dataset, model=config.model, seed=config.seed, config_hash=resolved["config_hash"],
                         protocol=config.protocol.model_dump(mode="json"), started_at=started_at)  # fmt: skip
    try:
        from flexcode_bench.data.prepared import EVAL_SPLITS, load_prepared
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
        resumable = "workdir" in inspect.signature(model.fit).parameters
        extra = {"workdir": partial.path} if resumable else {}
        with shared_stages.recording() as shared:
            fit = model.fit(data, device=device, seed=config.seed, on_epoch=progress, **extra)
        timings["train"] = time.perf_counter() - t0

        buckets = popularity_buckets(data.train_counts, BucketScheme(config.protocol.buckets))
        frames, short_lists = [], {}
        for split in EVAL_SPLITS:
            t0 = time.perf_counter()
            ranked = evaluate_split(model, data, split, config.protocol, chunk_size=config.eval_chunk_size)
            timings[f"evaluate_{split}"] = time.perf_counter() - t0
            short_lists[split] = ranked.short_lists
            frames.append(per_user_frame(split, data.targets(split), ranked.ranks, buckets.of(data.targets(split)),
                                         config.protocol))  # fmt: skip
        per_user = pd.concat(frames, ignore_index=True)

        diagnostics = {
            "training_curve": [dataclasses.asdict(e) for e in fit.epochs],
            "best_epoch": fit.best_epoch,
            "best_valid_metric": fit.best_valid_metric,
            "buckets": buckets.to_dict(),
            "shared_stages": shared,
            "short_topk_lists": short_lists,  # users given fewer than max(K) items (history masking of a top-K)
            **fit.diagnostics,
        }
        partial.end("finished")
        manifest = build_manifest(**manifest_args, dataset_fingerprint=dataset_fingerprint, device=device,
                                  timings=timings, status="finished", diagnostics=diagnostics)  # fmt: skip
        manifest["resume"] = partial.summary()
        manifest["worker"] = {"host": socket.gethostname(), "pid": os.getpid()}  # which of several workers trained it
        write_run(path, per_user=per_user, config=resolved, manifest=manifest,
                  extra_files=_kept_weights(partial.path) if keep_checkpoints and resumable else None)  # fmt: skip
        partial.remove()
    except KeyboardInterrupt:
        partial.end("interrupted")
        raise
    except LockLost as exc:
        partial.end("lost its lock")
        console.warning(f"{label}: {exc.message}; leaving the run to it")
        return RunOutcome(config, path, "busy", resolved["config_hash"], error=exc.message)
    except Exception as exc:  # a failed run is recorded, not lost; the grid goes on (its checkpoints stay for a rerun)
        partial.end("failed")
        manifest = build_manifest(**manifest_args, dataset_fingerprint=dataset_fingerprint, device=device,
                                  timings=timings, status="failed",
                                  error=describe_exception(exc))  # fmt: skip
        manifest["resume"] = partial.summary()
        write_failed_run(path, config=resolved, manifest=manifest)
        return RunOutcome(config, path, "failed", resolved["config_hash"], error=f"{type(exc).__name__}: {exc}",
                          seconds=sum(timings.values()))  # fmt: skip
    test = per_user[per_user["split"] == "test"]
    test_metrics = {c: float(test[c].mean()) for c in test.columns if "@" in c}
    return RunOutcome(config, path, "finished", resolved["config_hash"], test_metrics=test_metrics,
                      seconds=sum(timings.values()), resumed_from_epoch=manifest["resume"]["resumed_from_epoch"])  # fmt: skip


def _kept_weights(folder: Path) -> dict[str, Path]:
    """--keep-checkpoints: the best weights as model.pt, plus a generative model's cached tokenisation."""
    import torch

    from flexcode_bench.training import best_weights

    files = {}
    weights = best_weights(folder)
    if weights is not None:
        torch.save(weights, folder / "model.pt")
        files["model.pt"] = folder / "model.pt"
    for cached in sorted(folder.glob("build_codes.pt")):
        files[cached.name] = cached
    return files


@dataclass
class SplitRanks:
    ranks: np.ndarray  # 1-based rank of each user's target over the full catalogue (0 = never ranked)
    short_lists: int  # users whose top-K list came back shorter than K (0 for scoring models)


def evaluate_split(model: object, data, split: str, protocol: ProtocolConfig, *, chunk_size: int) -> SplitRanks:
    """Rank each user's target of ``split`` under the protocol (full ranking, or a generative top-K)."""
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
        return SplitRanks(rank_in_topk(topk, targets, n_items=data.n_items), int(((topk >= 0).sum(axis=1) < k).sum()))
    ranks = rank_targets(
        lambda rows: model.score([histories[r] for r in rows]),
        targets,
        n_items=data.n_items,
        histories=histories,
        mask_history=protocol.mask_history,
        chunk_size=chunk_size,
        tie_policy=protocol.tie_policy,
    )
    return SplitRanks(ranks, 0)


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
    action: str  # "run" | "skip" (finished, same config) | "redo" (failed, interrupted, broken or changed) | "resume"


def plan_grid(configs: Sequence[RunConfig], *, force: bool = False) -> list[PlannedRun]:
    """What ``run_grid`` would do, without training anything (``flexbench run --dry-run``)."""
    check_grid(configs)
    return [_plan(config, force=force)[0] for config in configs]


def _plan(config: RunConfig, *, force: bool) -> tuple[PlannedRun, dict, object]:
    """The one rule for skipping a run, shared by ``run_one`` and ``plan_grid``; also the resolved config and model."""
    from flexcode_bench.results import is_finished, run_dir
    from flexcode_bench.resume import partial_dir

    resolved, model = resolved_config(config)
    path = run_dir(config.results_dir, config.dataset, config.model, config.seed)
    if not force and is_finished(path, resolved["config_hash"]):
        action = "skip"
    elif partial_dir(path).exists():
        action = "resume"
    else:
        action = "redo" if path.exists() else "run"
    return PlannedRun(config, path, resolved["config_hash"], action), resolved, model


def check_grid(configs: Sequence[RunConfig]) -> None:
    """Report every unknown dataset, model or device, unprepared or changed dataset and bad model option at once.

    Runs before anything is trained or written, so a typo in the last grid cell costs nothing.

    Raises:
        ConfigError: one message listing each problem once.
    """
    from flexcode_bench.device import resolve_device
    from flexcode_bench.errors import ConfigError, FlexbenchError
    from flexcode_bench.models import model_spec

    problems: list[str] = []
    seen: set[tuple] = set()
    failed: set[tuple] = set()

    def once(key: tuple, check: Callable[[], object]) -> bool:
        if key in seen:
            return key not in failed
        seen.add(key)
        try:
            check()
        except FlexbenchError as exc:
            failed.add(key)
            problems.append(exc.message if exc.hint is None else f"{exc.message} ({exc.hint})")
            return False
        return True

    for config in configs:
        once(("dataset", config.dataset, str(config.data_dir)), lambda c=config: _check_dataset(c.dataset, c.data_dir))
        device_ok = once(("device", config.device), lambda c=config: resolve_device(c.device))
        if once(("model", config.model), lambda c=config: model_spec(c.model)):
            options = json.dumps(config.model_overrides, sort_keys=True, default=str)
            once(("options", config.model, config.profile, options, config.device),
                 lambda c=config, d=device_ok: _check_options(c, check_precision_on_device=d))  # fmt: skip
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(f"{len(problems)} problem(s) in the grid; nothing was run:\n{listed}")


def _check_options(config: RunConfig, *, check_precision_on_device: bool) -> None:
    """The model's options resolve (resolved once); with a valid device, bf16 needs one computing in bf16
    (``device.check_precision``). A bad device is reported by its own check, not again here."""
    from flexcode_bench.device import check_precision, resolve_device

    precision = resolved_config(config)[0]["model_config"].get("precision")
    if precision is not None and check_precision_on_device:
        check_precision(precision, resolve_device(config.device))


def _check_dataset(name: str, data_dir: Path) -> None:
    from flexcode_bench.data.catalogue import load_catalogue
    from flexcode_bench.data.prepared import check_prepared
    from flexcode_bench.errors import DataFormatError, UnknownNameError
    from flexcode_bench.registry import did_you_mean

    try:
        check_prepared(name, data_dir)
    except DataFormatError:
        catalogue = load_catalogue()
        if not (Path(data_dir) / name).exists() and name not in catalogue.datasets:  # neither prepared nor known: a typo?
            raise UnknownNameError(
                f"unknown dataset {name!r}{did_you_mean(name, list(catalogue.datasets))}",
                hint=f"`flexbench ls datasets` lists the catalogue; nothing named so is prepared in {Path(data_dir)}",
            ) from None
        raise


def run_grid(
    configs: Sequence[RunConfig], *, force: bool = False, keep_checkpoints: bool = False, executor: ExecutorConfig = LOCAL
) -> list[RunOutcome]:
    """Run every config in order with a live view; failures are recorded and the grid goes on.

    The whole grid is checked first (:func:`check_grid`). A run another worker holds is left for
    later; once every other run is done, this worker waits for those (and takes a run over if its
    worker died), so workers started on one grid split it and all finish when it is done.

    Ctrl-C (and SIGTERM, which the CLI turns into the same exception) stops the grid: finished runs
    stay, the interrupted run keeps its checkpoints in ``<run>.partial/``, a summary says what
    finished and where the interrupted run stopped, and the exception propagates.
    """
    check_grid(configs)
    if executor.kind == "ray":  # the same runs as Ray tasks, each through run_one (flexcode_bench.executors.ray)
        from flexcode_bench.executors.ray import run_grid_on_ray

        return run_grid_on_ray(configs, force=force, keep_checkpoints=keep_checkpoints, executor=executor)
    outcomes: dict[int, RunOutcome] = {}
    current: RunConfig | None = None
    with console.progress() as bar:
        task = bar.add_task("runs", total=len(configs))
        try:
            pending = list(enumerate(configs))
            for attempt in ("first", "waiting"):
                busy = []
                for index, config in pending:
                    current = config
                    label = f"{_tally(list(outcomes.values()), len(configs))} │ {config.dataset} · {config.model} · seed {config.seed}"
                    bar.update(task, description=label)

                    def on_epoch(report: EpochReport, label: str = label) -> None:
                        metric = "—" if report.valid_metric is None else f"{report.valid_metric:.4f}"
                        line = f"{label} · epoch {report.epoch} · loss {report.train_loss:.3f} · valid {metric}"
                        bar.update(task, description=line)
                        if not console.status.is_terminal:  # logs and CI get one line per epoch instead of a live bar
                            console.info(f"{line} ({report.seconds:.1f} s)")

                    outcome = run_one(config, force=force, on_epoch=on_epoch, keep_checkpoints=keep_checkpoints,
                                      wait=attempt == "waiting")  # fmt: skip
                    current = None
                    if outcome.status == "busy" and attempt == "first":
                        console.info(f"{_label(config)}: {outcome.error}; coming back to it when the other runs are done")
                        busy.append((index, config))
                        continue
                    outcomes[index] = outcome
                    _announce(outcome)
                    bar.advance(task)
                pending = busy
        except KeyboardInterrupt:
            _report_interruption(list(outcomes.values()), current, len(configs))
            raise
    return [outcomes[i] for i in sorted(outcomes)]


def _report_interruption(outcomes: Sequence[RunOutcome], current: RunConfig | None, total: int) -> None:
    from flexcode_bench.results import run_dir
    from flexcode_bench.resume import partial_dir
    from flexcode_bench.training import checkpointed_epoch

    finished = sum(o.status == "finished" for o in outcomes)
    skipped = sum(o.status == "skipped" for o in outcomes)
    failed = sum(o.status == "failed" for o in outcomes)
    console.warning(f"interrupted: {finished} run(s) finished, {skipped} already done, {failed} failed, "
                    f"{total - len(outcomes)} not finished")  # fmt: skip
    if current is not None:
        saved = checkpointed_epoch(partial_dir(run_dir(current.results_dir, current.dataset, current.model, current.seed)))
        where = f"during epoch {saved + 1} (epochs 1-{saved} are checkpointed)" if saved else "before its first epoch ended"
        console.warning(f"{_label(current)} was interrupted {where}")
    console.info("run the same command again to continue: finished runs are skipped and the interrupted run resumes")


def _label(config: RunConfig) -> str:
    return f"{config.dataset} · {config.model} · seed {config.seed}"


def _tally(outcomes: Sequence[RunOutcome], total: int) -> str:
    done = sum(o.status in ("finished", "skipped") for o in outcomes)
    failed = sum(o.status == "failed" for o in outcomes)
    return f"done {done} · failed {failed} · running 1 · left {total - len(outcomes) - 1}"


def _announce(outcome: RunOutcome) -> None:
    label = _label(outcome.config)
    if outcome.status == "skipped":
        console.info(f"[dim]skipped[/dim] {label} (finished, config {outcome.config_hash})")
    elif outcome.status == "busy":
        console.warning(f"{label}: {outcome.error}")
    elif outcome.status == "failed":
        console.error(f"{label} failed: {outcome.error}", hint=f"details in {outcome.path / 'manifest.json'}")
    else:
        metrics = outcome.test_metrics or {}
        resumed = "" if outcome.resumed_from_epoch is None else f", resumed after epoch {outcome.resumed_from_epoch}"
        console.success(
            f"{label}: test NDCG@10 {metrics.get('ndcg@10', float('nan')):.4f}, "
            f"Recall@10 {metrics.get('recall@10', float('nan')):.4f} ({outcome.seconds:.1f} s{resumed})"
        )
