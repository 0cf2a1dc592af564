"""Shared fixtures. Tests run on CPU with the smoke profile, without internet (loopback only)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
