"""Ray executor: each run spec of a grid becomes one Ray task that calls :func:`runner.run_one`.

A task reserves ``cpus_per_run`` CPUs (and sets torch to that many threads) plus one GPU when the run
asks for ``--device cuda``, or ``--device auto`` on a cluster with GPUs. Run folders are written atomically by ``run_one`` on whichever node the
task lands, so the results folder must be shared by every node (and the data folder shared, or
prepared on each node with matching fingerprints: ``run_one`` records the fingerprint it used). Finished runs are skipped before anything is sent; each task
applies the same rule again, so two drivers never redo a run one of them finished.

Each task takes the run's lock and resumes from the run's checkpoints exactly as the local executor does
(both live in ``run_one``). Ctrl-C cancels every task still queued or running (a killed task leaves no
run folder: nothing is renamed into place before a run ends; its checkpoints stay in ``<run>.partial/``
and its lock is taken over as its process is dead) and re-raises, like the local executor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flexcode_bench import console
from flexcode_bench.config import RunConfig
from flexcode_bench.executors import ExecutorConfig
from flexcode_bench.extras import require_ray
from flexcode_bench.runner import RunOutcome, _announce, plan_grid

POLL_SECONDS = 1.0  # how often the live tally refreshes while no run has come back


def run_grid_on_ray(
    configs: Sequence[RunConfig], *, force: bool, keep_checkpoints: bool = False, executor: ExecutorConfig
) -> list[RunOutcome]:
    """Run ``configs`` as Ray tasks; outcomes in the grid's order."""
    require_ray("--executor ray")
    import ray

    # Workers resolve paths in their own working directory (on another node, anywhere): send absolute ones.
    configs = [c.model_copy(update={"data_dir": c.data_dir.resolve(), "results_dir": c.results_dir.resolve()}) for c in configs]
    planned = plan_grid(configs, force=force)  # also resolves every model: a bad name fails before any task
    outcomes: dict[int, RunOutcome] = {}
    for index, plan in enumerate(planned):
        if plan.action == "skip":
            outcomes[index] = RunOutcome(plan.config, plan.path, "skipped", plan.config_hash)
    todo = [i for i in range(len(planned)) if i not in outcomes]

    started_here = not ray.is_initialized()
    if started_here:
        # log_to_driver=False: a run's own status lines would interleave with the tally; its manifest has the rest
        ray.init(address=executor.address, log_to_driver=False, include_dashboard=False, configure_logging=False)
    try:
        task = ray.remote(_run_task)
        cluster_has_gpus = ray.cluster_resources().get("GPU", 0) > 0
        pending: dict[Any, int] = {}
        for i in todo:
            config = planned[i].config
            # Ray hides every GPU from a task that reserved none, so `auto` reserves one where the cluster has any
            gpu = config.device.startswith("cuda") or (config.device == "auto" and cluster_has_gpus)
            options = {"num_cpus": executor.cpus_per_run, "num_gpus": 1 if gpu else 0, "max_retries": 0}
            pending[task.options(**options).remote(config, force, keep_checkpoints, executor.cpus_per_run)] = i
        resources = ray.cluster_resources()
        console.info(f"sent {len(pending)} run(s) to Ray ({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs; "
                     f"{executor.cpus_per_run} CPU(s) per run); {len(outcomes)} already finished")  # fmt: skip
        _collect(pending, planned, outcomes, len(planned))
    finally:
        if started_here:
            ray.shutdown()
    return [outcomes[i] for i in range(len(planned))]


def _collect(pending: dict[Any, int], planned, outcomes: dict[int, RunOutcome], total: int) -> None:
    import ray

    for outcome in outcomes.values():
        _announce(outcome)
    with console.progress() as bar:
        bar_task = bar.add_task(_tally(outcomes.values(), len(pending), total), total=total, completed=len(outcomes))
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_SECONDS)
                for ref in ready:
                    i = pending.pop(ref)
                    outcomes[i] = _result(ref, planned[i])
                    _announce(outcomes[i])
                    bar.advance(bar_task)
                bar.update(bar_task, description=_tally(outcomes.values(), len(pending), total))
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            console.warning(f"interrupted: cancelled {len(pending)} run(s) still queued or running; rerun to resume")
            raise


def _result(ref, plan) -> RunOutcome:
    """The task's outcome; a task that died (worker lost, out of memory) is a failed run, not a crash."""
    import ray

    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:
        return RunOutcome(plan.config, plan.path, "failed", plan.config_hash, error=f"Ray task failed: {exc}")


def _tally(outcomes, running: int, total: int) -> str:
    done = sum(o.status in ("finished", "skipped") for o in outcomes)
    failed = sum(o.status == "failed" for o in outcomes)
    return f"ray · done {done} · failed {failed} · running or queued {running} · of {total}"


def _run_task(config: RunConfig, force: bool, keep_checkpoints: bool, threads: int) -> RunOutcome:
    """Body of one Ray task (module-level so workers import it from the installed flexcode_bench)."""
    import torch

    from flexcode_bench.runner import run_one

    torch.set_num_threads(threads)  # the CPUs Ray reserved for this task, no more
    # wait=True: a run another worker (a local `flexbench run`, another driver) holds is waited for, then skipped
    return run_one(config, force=force, keep_checkpoints=keep_checkpoints, wait=True)
