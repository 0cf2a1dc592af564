"""Fixtures shared by the transport and source tests: a real HTTP server on 127.0.0.1 over a folder."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from tests.support.http_server import serve_folder

SIZE = 300_000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def www(tmp_path: Path) -> Path:
    folder = tmp_path / "www"
    folder.mkdir()
    return folder


@pytest.fixture
def server(www: Path):
    with serve_folder(www) as running:
        yield running


@pytest.fixture
def body(www: Path) -> bytes:
    data = random.Random(0).randbytes(SIZE)
    (www / "blob.bin").write_bytes(data)
    return data
