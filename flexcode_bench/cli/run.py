"""``flexbench run``: train and evaluate a grid of datasets × models × seeds."""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer

from flexcode_bench import console
from flexcode_bench.cli.errors import friendly_errors


@friendly_errors
def command(
    *,
    dataset: Annotated[Optional[list[str]], typer.Option("--dataset", "-d", help="Dataset(s) (default: every dataset prepared under --data-dir).")] = None,
    model: Annotated[
        Optional[list[str]], typer.Option("--model", "-m", help="Model(s), e.g. sasrec or recbole:GRU4Rec.")
    ] = None,
    all_baselines: Annotated[bool, typer.Option("--all-baselines", help="FlexCode, TIGER and SASRec.")] = False,
    ablations: Annotated[bool, typer.Option("--ablations", help="Add every FlexCode ablation.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved grid and what would be skipped.")] = False,
    seed: Annotated[Optional[list[int]], typer.Option("--seed", help="Seed(s); repeatable.")] = None,
    seeds: Annotated[Optional[int], typer.Option(min=1, help="Run seeds 0..N-1.")] = None,
    profile: Annotated[Optional[str], typer.Option(help="smoke | quick | cpu | paper (default: cpu).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="YAML overrides (below flags).")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto | cpu | cuda (default: auto).")] = None,
    mask_history: Annotated[
        Optional[bool], typer.Option("--mask-history/--no-mask-history", help="Remove history items from rankings.")
    ] = None,
    data_dir: Annotated[Optional[Path], typer.Option(envvar="FLEXBENCH_DATA", help="Prepared data (default: ./data).")] = None,
    results_dir: Annotated[Optional[Path], typer.Option(help="Where runs are written (default: ./results).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Redo runs even when a finished identical one exists.")] = False,
    keep_checkpoints: Annotated[
        bool, typer.Option("--keep-checkpoints", help="Keep each run's best weights (model.pt) in its folder.")
    ] = False,
    executor: Annotated[
        str, typer.Option(help="local (one run after another, here) | ray (Ray tasks; pip install -e '.[ray]').")
    ] = "local",
    address: Annotated[Optional[str], typer.Option(help="Ray cluster address (default: start a local one).")] = None,
    cpus_per_run: Annotated[int, typer.Option(min=1, help="Ray: CPUs reserved per run (its torch threads).")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcomes as JSON on stdout.")] = False,
) -> None:
    """Train, evaluate and record every dataset × model × seed; finished identical runs are skipped.

    An interrupted run (Ctrl-C, SIGTERM, a kill or a crash) resumes from its last completed epoch
    when the same command runs again; several processes on one results folder share the grid.
    Ctrl-C exits with 130, SIGTERM with 143.
    """
    from flexcode_bench.config import load_grid_config
    from flexcode_bench.errors import ConfigError
    from flexcode_bench.models import ABLATION_MODELS, ALL_BASELINES
    from flexcode_bench.runner import plan_grid, run_grid

    if seed and seeds:
        raise ConfigError("give --seed or --seeds, not both")
    models = list(model or []) + list(ALL_BASELINES if all_baselines else ()) + list(ABLATION_MODELS if ablations else ())
    flags = {
        "datasets": dataset or None,
        "models": list(dict.fromkeys(models)) or None,
        "seeds": list(seed) if seed else (list(range(seeds)) if seeds else None),
        "profile": profile,
        "device": device,
        "mask_history": mask_history,
        "data_dir": data_dir,
        "results_dir": results_dir,
    }
    grid = load_grid_config(config, flags)
    executor_config = _executor_config(executor, address, cpus_per_run)
    if dry_run:
        _render_plan(plan_grid(grid.expand(), force=force), as_json)
        return
    with _sigterm_as_interrupt():
        try:
            outcomes = run_grid(grid.expand(), force=force, keep_checkpoints=keep_checkpoints, executor=executor_config)
        except KeyboardInterrupt as exc:
            raise typer.Exit(143 if isinstance(exc, Terminated) else 130) from None

    if as_json:
        rows = [
            {"dataset": o.config.dataset, "model": o.config.model, "seed": o.config.seed, "status": o.status,
             "path": str(o.path), "config_hash": o.config_hash, "test": o.test_metrics, "error": o.error,
             "resumed_from_epoch": o.resumed_from_epoch}
            for o in outcomes
        ]  # fmt: skip
        console.data.print_json(json.dumps(rows))
    failed = [o for o in outcomes if o.status in ("failed", "busy")]
    if failed:
        raise typer.Exit(1)


def _executor_config(kind: str, address: str | None, cpus_per_run: int):
    from pydantic import ValidationError

    from flexcode_bench.errors import ConfigError
    from flexcode_bench.executors import ExecutorConfig

    if address is not None and kind != "ray":
        raise ConfigError("--address names a Ray cluster; it needs --executor ray")
    try:
        return ExecutorConfig(kind=kind, address=address, cpus_per_run=cpus_per_run)
    except ValidationError:
        raise ConfigError(f"--executor must be local or ray, got {kind!r}") from None


def _render_plan(planned, as_json: bool) -> None:
    if as_json:
        rows = [{"dataset": p.config.dataset, "model": p.config.model, "seed": p.config.seed, "profile": p.config.profile,
                 "action": p.action, "config_hash": p.config_hash, "path": str(p.path)} for p in planned]  # fmt: skip
        console.data.print_json(json.dumps(rows))
        return
    from rich.table import Table

    table = Table(title=f"{len(planned)} run(s); {sum(p.action == 'skip' for p in planned)} already finished", title_justify="left")
    for column in ("dataset", "model", "seed", "profile", "config", "action"):
        table.add_column(column)
    for p in planned:
        style = {"skip": "dim", "redo": "yellow", "resume": "cyan", "run": "green"}[p.action]
        table.add_row(p.config.dataset, p.config.model, str(p.config.seed), p.config.profile, p.config_hash,
                      f"[{style}]{p.action}[/{style}]")  # fmt: skip
    console.print_table(table)


class Terminated(KeyboardInterrupt):
    """SIGTERM (what clusters send before preempting a job), handled like Ctrl-C."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. called from a test runner's worker): nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
