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


@pytest.fixture
def shared_beauty() -> Path:
    """The real Amazon Beauty (S3-Rec format) in ../shared/data, read in place, never copied."""
    path = SHARED_DATA / "amazon-beauty"
    if not (path / "Beauty.txt").is_file():
        pytest.skip(f"{path} is absent (research data kept outside the repo)")
    return path


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tests train tiny models: one thread avoids OpenMP spin-waits that make them several times slower
    on a busy 2-core machine (measured here), and makes CPU results independent of the core count."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
