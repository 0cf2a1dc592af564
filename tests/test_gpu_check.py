"""bench/gpu_check.sh on a machine without a GPU: it says so and exits 0 before installing anything."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has nvidia-smi: run the script itself")
def test_the_gpu_check_skips_cleanly_without_a_gpu_and_installs_nothing(tmp_path):
    venv = tmp_path / "venv-gpu"
    done = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh")], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "GPU_CHECK_VENV": str(venv)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "GPU check skipped" in done.stderr and "no nvidia-smi" in done.stderr
    assert not venv.exists()
