"""Shared fixtures. Tests run on CPU with the smoke profile, without internet (loopback only)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests read what a user reads, not escape codes: colour forced by the caller's environment (CI systems
# often set FORCE_COLOR) is turned off before flexbench's consoles are created. NO_COLOR, TERM and
# COLUMNS are left as they are; the suite passes under any of them.
for _variable in ("FORCE_COLOR", "TTY_COMPATIBLE"):
    os.environ.pop(_variable, None)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REPO = Path(__file__).resolve().parents[1]
# Where the README's main command (and .ci/run) puts the recbole wheel that carries MovieLens-100K.
RECBOLE_WHEEL_DIR = REPO / "data" / "raw" / "ml-100k" / "recbole"


@pytest.fixture
def shared_beauty() -> Path:
    """The real Amazon Beauty (S3-Rec format) in ../shared/data, read in place, never copied."""
    path = SHARED_DATA / "amazon-beauty"
    if not (path / "Beauty.txt").is_file():
        pytest.skip(f"{path} is absent (research data kept outside the repo)")
    return path


@pytest.fixture
def ml100k_data_dir(tmp_path: Path) -> Path:
    """A fresh data folder in which `prepare ml-100k` finds MovieLens-100K offline: the installed
    recbole package, or else a copy of the recbole wheel the README's main command fetched."""
    import importlib.util
    import shutil

    data_dir = tmp_path / "data"
    if importlib.util.find_spec("recbole") is None:
        wheels = sorted(RECBOLE_WHEEL_DIR.glob("recbole-1.2.1-*.whl"))
        if not wheels:
            pytest.skip(f"neither recbole nor its wheel in {RECBOLE_WHEEL_DIR} "
                        f"(pip download --no-deps recbole==1.2.1 -d {RECBOLE_WHEEL_DIR})")  # fmt: skip
        target = data_dir / "raw" / "ml-100k" / "recbole"
        target.mkdir(parents=True)
        shutil.copy(wheels[-1], target)
    return data_dir


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tests train tiny models: one thread avoids OpenMP spin-waits that make them several times slower
    on a busy 2-core machine (measured here), and makes CPU results independent of the core count."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
