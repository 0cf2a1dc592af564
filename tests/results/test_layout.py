"""Where runs live: one folder per dataset, model and seed."""

from __future__ import annotations

from pathlib import Path

import pytest

from flexcode_bench.errors import ConfigError
from flexcode_bench.results import run_dir


def test_run_dir_is_dataset_model_seed(tmp_path: Path) -> None:
    assert run_dir(tmp_path, "ml-100k", "flexcode+no-moe", 3) == tmp_path / "ml-100k" / "flexcode+no-moe" / "seed-3"


@pytest.mark.parametrize("dataset,model,seed", [("a/b", "m", 0), (".hidden", "m", 0), ("d", "", 0), ("d", "m", -1)])
def test_given_unusable_names_then_run_dir_refuses(tmp_path: Path, dataset: str, model: str, seed: int) -> None:
    with pytest.raises(ConfigError):
        run_dir(tmp_path, dataset, model, seed)
