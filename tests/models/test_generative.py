import numpy as np
import pytest

from flexcode_bench.models.generative import drop_history, early_stopping_users, history_windows, learning_rate_factor


def test_history_windows_keep_the_most_recent_items():
    assert history_windows([np.arange(30), np.array([3])], max_history=3).tolist() == [[27, 28, 29], [-1, -1, 3]]


def test_masking_history_drops_history_items_keeps_order_and_pads_short_rows():
    found = np.array([[4, 1, 7, 2, 9], [3, 5, 6, 8, 0]])
    kept = drop_history(found, [np.array([1, 2]), np.array([3, 5, 6, 8])], k=3)
    assert kept.tolist() == [[4, 7, 9], [0, -1, -1]]


def test_the_learning_rate_warms_up_linearly_then_decays_to_zero_on_a_cosine():
    factor = learning_rate_factor("cosine", warmup_steps=4, total_steps=104)
    assert [factor(s) for s in range(4)] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert factor(54) == pytest.approx(0.5)
    assert factor(104) == pytest.approx(0.0, abs=1e-12)
    assert learning_rate_factor("constant", 0, 10)(7) == 1.0


def test_early_stopping_validates_a_seeded_sample_of_users_or_all_of_them():
    sample = early_stopping_users(1000, 50, seed=2)
    assert len(np.unique(sample)) == 50 and (np.diff(sample) > 0).all() and sample.max() < 1000
    assert (early_stopping_users(1000, 50, seed=2) == sample).all()  # recorded seed: the same users again
    assert not (early_stopping_users(1000, 50, seed=0) == sample).all()  # each seed draws its own sample
    assert (early_stopping_users(40, 50, seed=2) == np.arange(40)).all()
    assert (early_stopping_users(40, None, seed=2) == np.arange(40)).all()


def test_a_loss_that_becomes_nan_stops_training_with_an_error_naming_the_step(monkeypatch, tmp_path):
    import torch

    from flexcode_bench.data.prepared import load_prepared
    from flexcode_bench.errors import TrainingDivergedError
    from flexcode_bench.models import build_model
    from tests.support.prepared_on_disk import write_sequences

    texts = ["red shoe", "blue lamp", "green tea", "gold ring", "red lamp", "blue tea"]
    write_sequences(tmp_path, "tiny", [[0, 1, 2, 3, 4, 5], [2, 3, 4, 5, 0, 1], [5, 4, 3, 2, 1, 0]], texts=texts)
    data = load_prepared("tiny", tmp_path)
    model = build_model("tiger", "smoke", {"codebook_size": 4})
    monkeypatch.setattr(model, "batch_loss", lambda batch: torch.tensor(float("nan"), requires_grad=True))
    with pytest.raises(TrainingDivergedError, match="loss is nan at epoch 1, optimiser step 1"):
        model.fit(data, device="cpu", seed=0)
