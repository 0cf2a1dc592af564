"""RecBole adapter: our split survives the round trip through RecBole, and scores come back in our item order.

One tiny SASRec epoch (module fixture) is the only training here: RecBole epochs are slow on CPU.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

import numpy as np
import pytest
import torch

from flexcode_bench.extras import installed

if not installed("recbole"):
    pytest.skip('needs the recbole extra (pip install -e ".[recbole]", Python 3.10/3.11)', allow_module_level=True)

from baselines import recbole_compat  # noqa: E402
from baselines.recbole_adapter import (  # noqa: E402
    RecBoleConfig,
    RecBoleModel,
    build,
    build_recbole_data,
    check_splits,
    export_atomic,
    item_index,
    split_in_our_ids,
)
from flexcode_bench.errors import ConfigError, UnknownNameError
from flexcode_bench.recommender import ScoringRecommender
from tests.support.synthetic import dataset_from_sequences

N_USERS, N_ITEMS = 50, 40


def _sequences(seed: int = 0) -> list[list[int]]:
    """Varied lengths (3..30, some longer than the smoke max_seq_length of 20) and a mostly next-item rule."""
    rng = np.random.default_rng(seed)
    seqs = []
    for _ in range(N_USERS):
        start, length = rng.integers(0, N_ITEMS - 2), rng.integers(3, 31)
        seqs.append([int((start + t + (rng.random() < 0.2)) % (N_ITEMS - 2)) for t in range(length)])
    return seqs  # items N_ITEMS-2 and N_ITEMS-1 never occur: the catalogue is larger than the interactions


@pytest.fixture(scope="module")
def data():
    return dataset_from_sequences(_sequences(), N_ITEMS, name="tiny")


@pytest.fixture(scope="module")
def fitted(data, tmp_path_factory):
    reports = []
    model = RecBoleModel(RecBoleConfig.from_profile("SASRec", "smoke"), workdir=tmp_path_factory.mktemp("recbole"))
    result = model.fit(data, device="cpu", seed=0, on_epoch=reports.append)
    return model, result, reports


def test_import_leaves_anomaly_detection_off():
    recbole_compat.import_recbole()
    recbole_compat.import_recbole()  # idempotent
    assert "recbole.model.sequential_recommender.sine" in sys.modules  # the module that switches it on was imported
    assert not torch.is_anomaly_enabled()


def test_export_round_trips_through_recbole(data, tmp_path, monkeypatch, caplog):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["flexbench", "--epochs=99"])  # RecBole's Config must not read our argv
    root_handlers = logging.getLogger().handlers[:]
    config = RecBoleConfig.from_profile("SASRec", "smoke")

    with caplog.at_level(logging.INFO), recbole_compat.session(tmp_path / "work") as log_path:
        rb = build_recbole_data(config, data, tmp_path / "work", device="cpu", seed=0)

    assert rb.config["epochs"] == 1
    for split, loader in (("valid", rb.valid), ("test", rb.test)):
        users, targets, histories = split_in_our_ids(loader)
        assert sorted(users.tolist()) == list(range(data.n_users))
        np.testing.assert_array_equal(targets[np.argsort(users)], data.targets(split))
        for user, history in zip(users, histories):
            np.testing.assert_array_equal(history, data.history(split)[user][-config.max_seq_length :])
    check_splits(rb, data, config.max_seq_length)  # the same check fit() runs, incl. the training row count
    assert len(item_index(rb.dataset, data.n_items)) == N_ITEMS  # never-seen catalogue items are known to RecBole
    # side effects stayed inside the work dir and the session
    assert list(cwd.iterdir()) == []
    assert "INFO" in log_path.read_text()
    assert not [r for r in caplog.records if "recbole" in r.pathname]
    assert logging.getLogger().handlers == root_handlers and sys.argv == ["flexbench", "--epochs=99"]


def test_export_files_use_benchmark_names_and_our_ids(data, tmp_path):
    folder = export_atomic(data, tmp_path, max_seq_length=5)
    valid = (folder / "flexbench.valid.inter").read_text().splitlines()
    assert valid[0] == "user_id:token\titem_id_list:token_seq\titem_id:token\ttimestamp:float"
    user, history, target, position = valid[1].split("\t")
    assert user == "0" and target == str(data.valid_targets[0])
    assert history.split() == [str(i) for i in data.train_sequences[0][-5:]]
    assert float(position) == len(data.train_sequences[0])
    assert {p.name for p in folder.iterdir()} == {f"flexbench.{s}.inter" for s in ("train", "valid", "test")} | {
        "flexbench.item"
    }


def test_smoke_sasrec_trains_one_epoch(fitted):
    model, result, reports = fitted
    assert isinstance(model, ScoringRecommender)
    assert reports == result.epochs and len(reports) == 1
    assert result.best_epoch == 0 and np.isfinite(result.best_valid_metric)
    assert np.isfinite(reports[0].train_loss) and "valid_ndcg@10" in reports[0].extra
    assert not torch.is_anomaly_enabled()


def test_score_columns_are_our_item_ids(fitted, data):
    model, result, _ = fitted
    scores = model.score(data.history("test"))
    assert scores.shape == (N_USERS, N_ITEMS) and scores.dtype == np.float32 and np.isfinite(scores).all()

    # RecBole's own test rows (built by RecBole from the exported files), scored by RecBole, looked up by token
    rb = model.recbole_data
    inter = rb.test._dataset.inter_feat
    with torch.no_grad():
        raw = model.recbole_model.full_sort_predict(inter).numpy()
    users, _, _ = split_in_our_ids(rb.test)
    for item in (0, 7, N_ITEMS - 1):
        column = rb.dataset.token2id(rb.dataset.iid_field, str(item))
        np.testing.assert_allclose(scores[users, item], raw[:, column], rtol=1e-5, atol=1e-5)

    # and RecBole's evaluator agrees with NDCG@10 computed from our scores in our id order
    targets = data.targets("test")
    rank = 1 + (scores > scores[np.arange(N_USERS), targets][:, None]).sum(axis=1)
    ndcg10 = np.where(rank <= 10, 1 / np.log2(rank + 1), 0.0).mean()
    assert ndcg10 == pytest.approx(result.diagnostics["recbole_test"]["ndcg@10"], abs=1e-3)


def test_unknown_model_name_suggests_close_matches():
    with pytest.raises(UnknownNameError, match="did you mean 'SASRec'"):
        RecBoleModel(RecBoleConfig(model="SASRek", epochs=1))
    assert RecBoleModel(RecBoleConfig(model="gru4rec", epochs=1)).config.model == "GRU4Rec"
    with pytest.raises(ConfigError, match="user id"):
        RecBoleModel(RecBoleConfig(model="Caser", epochs=1))


def test_build_layers_profile_and_overrides_and_rejects_typos():
    model = build("sasrec", "smoke", {"epochs": 2, "hidden_size": 8})
    assert model.config.model == "SASRec" and model.config.epochs == 2
    assert model.config.overrides["hidden_size"] == 8 and "num_layers" not in model.config.overrides  # GRU4Rec's key
    assert build("GRU4Rec", "smoke", {}).config.overrides["num_layers"] == 1
    with pytest.raises(ConfigError, match="did you mean 'hidden_size'"):
        build("SASRec", "smoke", {"hiden_size": 8})
    with pytest.raises(ConfigError, match="set by the adapter"):
        build("SASRec", "smoke", {"eval_args": {"mode": "uni100"}})  # sampled metrics would change the protocol


def _recbole_config_sets_cuda_visible_devices():
    os.environ["CUDA_VISIBLE_DEVICES"] = "0"  # what RecBole's Config does
    warnings.warn("not RecBole's", UserWarning, stacklevel=1)


def test_session_restores_process_state_and_passes_other_warnings_on(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.warns(UserWarning, match="not RecBole's"), recbole_compat.session(tmp_path):
        _recbole_config_sets_cuda_visible_devices()
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""
    assert "not RecBole's" not in (tmp_path / recbole_compat.LOG_FILE).read_text()
