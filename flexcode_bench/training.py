"""Model-agnostic training pieces shared by SASRec, TIGER and FlexCode: early stopping, checkpoints and the epoch loop.

A model supplies two callables, ``train_epoch(epoch) -> mean loss`` and ``validate() -> metric``
(higher is better); :func:`fit_loop` runs epochs, validates every ``eval_every`` epochs, reports
each epoch through ``on_epoch``, stops on patience, ``max_epochs`` or a wall-time budget, and
restores the best weights before returning a :class:`~flexcode_bench.recommender.FitResult`.

Given a :class:`Checkpoint`, the loop saves everything the next epoch depends on after every
epoch — weights, optimizer, LR scheduler, early-stopping state with the best weights, the curve so
far and every random stream (torch, CUDA, Python, numpy's global one and the numpy Generators the
model's epochs draw from) — and starts from that file when it exists, so a killed run resumes at
the epoch after the last completed one and, on one thread, ends with exactly the same weights.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flexcode_bench.errors import ConfigError, TrainingDivergedError
from flexcode_bench.recommender import EpochReport, FitResult, OnEpoch

if TYPE_CHECKING:
    import numpy as np
    import torch


def _cpu_copy(state: dict) -> dict:
    """A deep copy of a state_dict with every tensor on CPU, so later steps cannot change it."""
    out = {}
    for key, value in state.items():
        if hasattr(value, "detach"):
            out[key] = value.detach().to("cpu", copy=True)
        else:
            out[key] = copy.deepcopy(value)
    return out


class EarlyStopping:
    """Track the best validation metric (higher is better) and keep a CPU copy of the best weights.

    ``patience`` counts *evaluations* without improvement (by more than ``min_delta``), not epochs.
    """

    def __init__(self, patience: int, *, min_delta: float = 0.0) -> None:
        if patience < 1:
            raise ConfigError(f"patience must be >= 1, got {patience}")
        self.patience = patience
        self.min_delta = min_delta
        self.best: float | None = None
        self.best_epoch = 0
        self.bad_evals = 0
        self.best_state: dict | None = None

    def step(self, metric: float, model: torch.nn.Module, epoch: int) -> bool:
        """Record one evaluation; return True when it is a new best (and snapshot the weights)."""
        if self.best is None or metric > self.best + self.min_delta:
            self.best, self.best_epoch, self.bad_evals = float(metric), epoch, 0
            self.best_state = _cpu_copy(model.state_dict())
            return True
        self.bad_evals += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.bad_evals >= self.patience

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_evals": self.bad_evals, "best_state": self.best_state}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.bad_evals, self.best_state = state["bad_evals"], state["best_state"]

    def restore(self, model: torch.nn.Module) -> None:
        """Load the best weights back into ``model`` (on whatever device it lives); no-op before any step."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


CHECKPOINT_FILE = "checkpoint.pt"
CHECKPOINT_INFO = "checkpoint.json"


def checkpointed_epoch(folder: Path) -> int:
    """The last epoch saved in ``folder`` (0 when none), read from the small sidecar."""
    try:
        return int(json.loads((Path(folder) / CHECKPOINT_INFO).read_text(encoding="utf-8"))["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


@dataclass
class Checkpoint:
    """Where :func:`fit_loop` saves its state every epoch, and the stateful things it saves besides the model.

    ``rngs`` are the numpy Generators the epochs draw from (shuffling, sampling); torch's, CUDA's,
    Python's and numpy's global streams are always saved. ``scheduler`` is stepped by the caller
    (per step or per epoch) and only saved and restored here. ``extra`` holds further objects with
    ``state_dict``/``load_state_dict`` (e.g. a gradient scaler). Beside the checkpoint, a small
    ``checkpoint.json`` says which epoch it holds, so callers can tell without loading tensors.
    """

    folder: Path
    optimizer: Any = None
    scheduler: Any = None
    rngs: Sequence[np.random.Generator] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def file(self) -> Path:
        return Path(self.folder) / CHECKPOINT_FILE

    def save(self, state: dict) -> None:
        import torch

        from flexcode_bench.atomic import atomic_path

        state = {
            **state,
            "optimizer": None if self.optimizer is None else self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "extra": {name: obj.state_dict() for name, obj in self.extra.items()},
            "rng": _rng_states(self.rngs),
        }
        with atomic_path(self.file) as tmp:  # a kill while saving leaves the previous epoch's file intact
            torch.save(state, tmp)
        from flexcode_bench.atomic import write_text

        write_text(Path(self.folder) / CHECKPOINT_INFO, json.dumps({"epoch": state["epoch"], "stopped": state["stopped"]}))

    def load(self) -> dict | None:
        """The saved state with optimizer, scheduler, extras and random streams already restored; None if none."""
        import torch

        if not self.file.is_file():
            return None
        try:
            state = torch.load(self.file, map_location="cpu", weights_only=False)
        except Exception as exc:  # a damaged checkpoint costs the epochs since the start, not the run
            from flexcode_bench.console import warning

            warning(f"ignoring unreadable checkpoint {self.file} ({type(exc).__name__}: {exc}); training from epoch 1")
            return None
        if self.optimizer is not None and state["optimizer"] is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        for name, obj in self.extra.items():
            obj.load_state_dict(state["extra"][name])
        _set_rng_states(state["rng"], self.rngs)
        return state


def best_weights(folder: Path) -> dict | None:
    """The weights a finished training kept (the best ones, or the last without validation), from its checkpoint."""
    import torch

    file = Path(folder) / CHECKPOINT_FILE
    if not file.is_file():
        return None
    state = torch.load(file, map_location="cpu", weights_only=False)
    return state["early_stopping"]["best_state"] or state["model"]


def _rng_states(generators: Sequence[np.random.Generator]) -> dict:
    import numpy as np
    import torch

    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "generators": [copy.deepcopy(g.bit_generator.state) for g in generators],
    }


def _set_rng_states(states: dict, generators: Sequence[np.random.Generator]) -> None:
    import numpy as np
    import torch

    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if states["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    if len(states["generators"]) != len(generators):
        raise ConfigError(f"the checkpoint holds {len(states['generators'])} random generator(s), the model uses {len(generators)}")
    for generator, state in zip(generators, states["generators"]):
        generator.bit_generator.state = state


def cached_stage(owner: object, name: str, folder: Path | None, compute: Callable[[], None], *, also: Sequence[str] = ("diagnostics",)) -> bool:
    """Run ``compute`` (a stage that sets attributes on ``owner``) once per run folder: resumable stages.

    The attributes ``compute`` assigns, plus those named in ``also`` (mutated in place), are saved to
    ``<folder>/<name>.pt``; when that file exists they are loaded back instead of recomputing, so a
    resumed run skips e.g. its tokenisation. Returns True on a cache hit. Without ``folder`` it
    just computes.
    """
    import torch

    from flexcode_bench.atomic import atomic_path

    file = None if folder is None else Path(folder) / f"{name}.pt"
    if file is not None and file.is_file():
        try:
            attributes = torch.load(file, map_location=None, weights_only=False)
        except Exception as exc:
            from flexcode_bench.console import warning

            warning(f"ignoring unreadable stage cache {file} ({type(exc).__name__}: {exc}); computing it again")
        else:
            vars(owner).update(attributes)
            return True
    before = {key: id(value) for key, value in vars(owner).items()}
    compute()
    if file is not None:
        changed = {key: value for key, value in vars(owner).items() if before.get(key) != id(value) or key in also}
        with atomic_path(file) as tmp:
            torch.save(changed, tmp)
    return False


def fit_loop(
    model: torch.nn.Module,
    train_epoch: Callable[[int], float],
    validate: Callable[[], float] | None,
    *,
    max_epochs: int,
    patience: int,
    eval_every: int = 1,
    time_budget: float | None = None,
    on_epoch: OnEpoch | None = None,
    checkpoint: Checkpoint | None = None,
    scheduler: Any = None,
) -> FitResult:
    """Run up to ``max_epochs`` epochs (1-based) and return the curve with the best weights restored.

    Validation runs every ``eval_every`` epochs and on the last epoch (also when the time budget,
    in seconds of wall time, ends training early). Without ``validate`` the last weights are kept.
    ``diagnostics`` records why training stopped, the total seconds and, after a resume, the epoch
    it resumed from. ``scheduler`` (an LR scheduler the caller steps) is saved with the checkpoint
    unless the checkpoint names its own. Epochs restored from a checkpoint are not reported again.
    """
    if max_epochs < 1 or eval_every < 1:
        raise ConfigError(f"max_epochs and eval_every must be >= 1, got {max_epochs} and {eval_every}")
    if checkpoint is not None and checkpoint.scheduler is None and scheduler is not None:
        checkpoint = dataclasses.replace(checkpoint, scheduler=scheduler)
    stopper = EarlyStopping(patience)
    reports: list[EpochReport] = []
    stopped: str | None = None
    resumed_from = 0
    spent = 0.0  # training seconds of earlier attempts, for the time budget
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        stopper.load_state_dict(saved["early_stopping"])
        reports = [EpochReport(**r) for r in saved["reports"]]
        stopped, resumed_from, spent = saved["stopped"], saved["epoch"], saved["train_seconds"]
    started = time.perf_counter() - spent
    for epoch in range(resumed_from + 1, max_epochs + 1):
        if stopped is not None:
            break
        epoch_start = time.perf_counter()
        loss = float(train_epoch(epoch))
        if not math.isfinite(loss):  # every model's guard; generative models also stop at the first bad step
            raise TrainingDivergedError(
                f"the mean training loss of epoch {epoch} is {loss}: the weights are garbage from here on",
                hint="try a lower lr, or precision: fp32 where the model trains in bf16")  # fmt: skip
        over_budget = time_budget is not None and time.perf_counter() - started >= time_budget
        metric = None
        if validate is not None and (epoch % eval_every == 0 or epoch == max_epochs or over_budget):
            metric = float(validate())
            stopper.step(metric, model, epoch)
        report = EpochReport(
            epoch=epoch,
            train_loss=loss,
            valid_metric=metric,
            seconds=time.perf_counter() - epoch_start,
        )
        reports.append(report)
        if stopper.should_stop:
            stopped = "patience"
        elif over_budget:
            stopped = "time_budget"
        elif epoch == max_epochs:
            stopped = "max_epochs"
        if checkpoint is not None:
            checkpoint.save({"epoch": epoch, "model": _cpu_copy(model.state_dict()), "early_stopping": stopper.state_dict(),
                             "reports": [dataclasses.asdict(r) for r in reports], "stopped": stopped,
                             "train_seconds": time.perf_counter() - started})  # fmt: skip
        if on_epoch is not None:  # after the save, so a report always describes a checkpointed epoch
            on_epoch(report)
    stopper.restore(model)
    diagnostics: dict[str, Any] = {"stopped": stopped or "max_epochs", "train_seconds": time.perf_counter() - started}
    if resumed_from:
        diagnostics["resumed_from_epoch"] = resumed_from
    return FitResult(
        epochs=reports,
        best_epoch=stopper.best_epoch if validate is not None else reports[-1].epoch,
        best_valid_metric=stopper.best,
        diagnostics=diagnostics,
    )
