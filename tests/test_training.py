"""EarlyStopping and fit_loop on a one-parameter model with scripted losses and metrics."""

from __future__ import annotations

import pytest
import torch

from flexcode_bench.errors import ConfigError, TrainingDivergedError
from flexcode_bench.recommender import EpochReport
from flexcode_bench.training import EarlyStopping, fit_loop


def _scripted(metrics: list[float]):
    """A model whose weight is set to the epoch number each epoch, and a validator reading ``metrics``."""
    model = torch.nn.Linear(1, 1, bias=False)
    state = {"epoch": 0}

    def train_epoch(epoch: int) -> float:
        state["epoch"] = epoch
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        return 1.0 / epoch

    def validate() -> float:
        return metrics[state["epoch"] - 1]

    return model, train_epoch, validate


def test_given_metric_that_peaks_then_falls_then_best_weights_are_restored():
    model, train_epoch, validate = _scripted([0.1, 0.3, 0.5, 0.4, 0.2, 0.1])
    result = fit_loop(model, train_epoch, validate, max_epochs=6, patience=10)
    assert result.best_epoch == 3
    assert result.best_valid_metric == pytest.approx(0.5)
    assert model.weight.item() == 3.0  # the weights of epoch 3, not of the last epoch (6)
    assert result.diagnostics["stopped"] == "max_epochs"


def test_given_early_stopping_then_snapshot_is_a_cpu_copy_unaffected_by_later_steps():
    model = torch.nn.Linear(2, 1)
    stopper = EarlyStopping(patience=2)
    assert stopper.step(0.5, model, epoch=1)
    with torch.no_grad():
        model.weight.add_(10.0)
    assert not stopper.step(0.4, model, epoch=2)
    assert all(t.device.type == "cpu" for t in stopper.best_state.values())
    stopper.restore(model)
    assert model.weight.abs().max().item() < 5.0
    assert stopper.best == 0.5 and stopper.best_epoch == 1
    assert not stopper.should_stop
    stopper.step(0.3, model, epoch=3)
    assert stopper.should_stop


def test_given_patience_then_fit_loop_stops_and_reports_each_epoch():
    model, train_epoch, validate = _scripted([0.1, 0.5, 0.4, 0.4, 0.3, 0.9, 0.9, 0.9])
    seen: list[EpochReport] = []
    result = fit_loop(model, train_epoch, validate, max_epochs=8, patience=3, on_epoch=seen.append)
    assert [r.epoch for r in seen] == [
        1,
        2,
        3,
        4,
        5,
    ]  # 3 evaluations without improvement after epoch 2
    assert result.epochs == seen
    assert result.diagnostics["stopped"] == "patience"
    assert result.best_epoch == 2 and model.weight.item() == 2.0
    assert seen[0].train_loss == pytest.approx(1.0) and all(r.seconds >= 0 for r in seen)


def test_given_eval_every_then_validation_runs_on_those_epochs_and_the_last():
    model, train_epoch, validate = _scripted([0.1, 0.2, 0.3, 0.4, 0.5])
    result = fit_loop(model, train_epoch, validate, max_epochs=5, patience=5, eval_every=2)
    assert [r.valid_metric is not None for r in result.epochs] == [
        False,
        True,
        False,
        True,
        True,
    ]
    assert result.best_epoch == 5


def test_given_time_budget_then_training_stops_after_the_first_epoch_over_it():
    model, train_epoch, validate = _scripted([0.1] * 10)
    result = fit_loop(
        model,
        train_epoch,
        validate,
        max_epochs=10,
        patience=10,
        eval_every=5,
        time_budget=0.0,
    )
    assert len(result.epochs) == 1 and result.epochs[0].valid_metric is not None
    assert result.diagnostics["stopped"] == "time_budget"


def test_given_no_validator_then_last_weights_are_kept():
    model, train_epoch, _ = _scripted([])
    result = fit_loop(model, train_epoch, None, max_epochs=3, patience=1)
    assert result.best_epoch == 3 and result.best_valid_metric is None and model.weight.item() == 3.0


def test_given_bad_settings_then_config_error():
    model, train_epoch, validate = _scripted([0.1])
    with pytest.raises(ConfigError):
        fit_loop(model, train_epoch, validate, max_epochs=0, patience=1)
    with pytest.raises(ConfigError):
        EarlyStopping(patience=0)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_given_an_epoch_whose_mean_loss_is_not_finite_then_training_stops_naming_the_epoch(bad, tmp_path):
    """SASRec and every other model share this guard: a NaN epoch mean never reaches a checkpoint."""
    from flexcode_bench.training import Checkpoint

    model, train_epoch, validate = _scripted([0.1, 0.2, 0.3])
    losses = {1: 1.0, 2: bad}

    def diverging_epoch(epoch: int) -> float:
        train_epoch(epoch)
        return losses[epoch]

    checkpoint = Checkpoint(tmp_path)
    with pytest.raises(TrainingDivergedError, match=f"mean training loss of epoch 2 is {bad}"):
        fit_loop(model, diverging_epoch, validate, max_epochs=3, patience=3, checkpoint=checkpoint)
    assert checkpoint.load()["epoch"] == 1  # the last good epoch stays the one a rerun resumes from
