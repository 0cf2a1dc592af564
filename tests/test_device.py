"""Devices and training precision: bf16 is trained only where the hardware computes in bf16.

On a CPU without AVX512-BF16 or AMX, PyTorch's bf16 GEMM is a scalar fallback many times slower than
fp32, so a bf16 run there is refused before any work starts, never silently trained in fp32.
"""

from __future__ import annotations

import pytest

from flexcode_bench import device as device_module
from flexcode_bench.config import RunConfig
from flexcode_bench.device import check_precision, native_bf16
from flexcode_bench.errors import ConfigError
from flexcode_bench.models import build_model
from flexcode_bench.runner import check_grid
from tests.support.prepared_on_disk import popular_head_sequences, write_sequences


def test_fp32_is_accepted_on_any_cpu():
    check_precision("fp32", "cpu")


def test_bf16_on_this_cpu_is_accepted_exactly_when_it_has_native_bf16():
    if native_bf16("cpu"):
        check_precision("bf16", "cpu")
    else:
        with pytest.raises(ConfigError, match="precision bf16 needs native bf16 on the cpu device") as caught:
            check_precision("bf16", "cpu")
        assert "fp32 is the default" in caught.value.hint


def test_the_default_profile_trains_in_fp32_so_it_runs_on_every_cpu():
    for model in ("tiger", "flexcode", "tiger-atomic"):
        assert build_model(model, "cpu", {}).config.precision == "fp32"


@pytest.fixture
def grid(tmp_path):
    write_sequences(tmp_path / "data", "tiny", popular_head_sequences())

    def configs(precision: str) -> list[RunConfig]:
        return [RunConfig(dataset="tiny", model="tiger", profile="smoke", device="cpu", data_dir=tmp_path / "data",
                          results_dir=tmp_path / "results", model_overrides={"precision": precision})]  # fmt: skip

    return configs


def test_a_grid_with_bf16_on_a_cpu_without_it_is_refused_before_anything_runs(grid, monkeypatch, tmp_path):
    # the hardware probe is the one thing replaced: no CPU here can be made to lack or gain AVX512-BF16
    monkeypatch.setattr(device_module, "native_bf16", lambda device: False)
    with pytest.raises(ConfigError, match="nothing was run") as caught:
        check_grid(grid("bf16"))
    assert "precision bf16 needs native bf16" in caught.value.message
    assert not (tmp_path / "results").exists()


def test_a_grid_with_bf16_on_a_cpu_with_it_passes_the_check(grid, monkeypatch):
    monkeypatch.setattr(device_module, "native_bf16", lambda device: True)
    check_grid(grid("bf16"))
    check_grid(grid("fp32"))


def test_fit_itself_refuses_bf16_without_native_support(monkeypatch, tmp_path):
    from flexcode_bench.data.prepared import load_prepared

    write_sequences(tmp_path, "tiny", popular_head_sequences())
    monkeypatch.setattr(device_module, "native_bf16", lambda device: False)
    model = build_model("tiger", "smoke", {"precision": "bf16"})
    with pytest.raises(ConfigError, match="precision bf16"):
        model.fit(load_prepared("tiny", tmp_path), device="cpu", seed=0)
    assert model.vocabulary is None  # refused before the items were coded


def test_a_bad_device_is_one_problem_not_also_a_precision_problem(grid, monkeypatch, tmp_path):
    monkeypatch.setattr(device_module, "native_bf16", lambda device: False)
    (config,) = grid("bf16")
    with pytest.raises(ConfigError, match="1 problem") as caught:
        check_grid([config.model_copy(update={"device": "tpu"})])
    assert "'tpu'" in caught.value.message and "precision" not in caught.value.message
