"""Model-agnostic training pieces shared by SASRec, TIGER and FlexCode: early stopping and the epoch loop.

A model supplies two callables, ``train_epoch(epoch) -> mean loss`` and ``validate() -> metric``
(higher is better); :func:`fit_loop` runs epochs, validates every ``eval_every`` epochs, reports
each epoch through ``on_epoch``, stops on patience, ``max_epochs`` or a wall-time budget, and
restores the best weights before returning a :class:`~flexcode_bench.recommender.FitResult`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from flexcode_bench.errors import ConfigError
from flexcode_bench.recommender import EpochReport, FitResult, OnEpoch

if TYPE_CHECKING:
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

    def restore(self, model: torch.nn.Module) -> None:
        """Load the best weights back into ``model`` (on whatever device it lives); no-op before any step."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


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
) -> FitResult:
    """Run up to ``max_epochs`` epochs (1-based) and return the curve with the best weights restored.

    Validation runs every ``eval_every`` epochs and on the last epoch (also when the time budget,
    in seconds of wall time, ends training early). Without ``validate`` the last weights are kept.
    ``diagnostics`` records why training stopped and the total seconds.
    """
    if max_epochs < 1 or eval_every < 1:
        raise ConfigError(f"max_epochs and eval_every must be >= 1, got {max_epochs} and {eval_every}")
    stopper = EarlyStopping(patience)
    reports: list[EpochReport] = []
    stopped = "max_epochs"
    started = time.perf_counter()
    for epoch in range(1, max_epochs + 1):
        epoch_start = time.perf_counter()
        loss = float(train_epoch(epoch))
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
        if on_epoch is not None:
            on_epoch(report)
        if stopper.should_stop:
            stopped = "patience"
            break
        if over_budget:
            stopped = "time_budget"
            break
    stopper.restore(model)
    return FitResult(
        epochs=reports,
        best_epoch=stopper.best_epoch if validate is not None else reports[-1].epoch,
        best_valid_metric=stopper.best,
        diagnostics={
            "stopped": stopped,
            "train_seconds": time.perf_counter() - started,
        },
    )
