"""Every model trains, decodes and is evaluated on CUDA through the real runner (skipped without a GPU).

`bench/gpu_check.sh` runs these (`pytest -k cuda`) on a machine with one GPU. On CUDA the results are
not bit-identical to CPU, so they are held to the protocol (every user ranked, metrics in range), and
`--device auto` must pick the GPU.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from flexcode_bench.config import RunConfig
from flexcode_bench.models import ABLATION_MODELS
from flexcode_bench.results import load_run
from flexcode_bench.runner import run_one
from tests.support.prepared_on_disk import popular_head_sequences, write_sequences

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cuda-data")
    write_sequences(folder, "tiny", popular_head_sequences())
    return folder


@pytest.mark.parametrize("model", ["sasrec", "tiger", "flexcode", ABLATION_MODELS[0], "popularity"])
def test_cuda_auto_device_trains_decodes_and_evaluates_every_user(model, data_dir, tmp_path):
    config = RunConfig(dataset="tiny", model=model, profile="smoke", device="auto", data_dir=data_dir,
                       results_dir=tmp_path)  # fmt: skip
    outcome = run_one(config)
    assert outcome.status == "finished", outcome.error
    record = load_run(outcome.path)
    assert record.manifest["device"].startswith("cuda")
    test = record.per_user[record.per_user["split"] == "test"]
    assert len(test) == 60 and np.isfinite(test["ndcg@10"]).all()
    assert 0.0 <= record.metrics["test"]["overall"]["recall@10"] <= 1.0
    json.dumps(record.manifest)  # nothing CUDA-typed leaked into the record
