"""Start ``flexbench`` as a real process running this checkout's code, on one torch thread."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# `flexbench` as its console script starts it, except that Ctrl-C always raises KeyboardInterrupt: a suite
# started as a background job (`cmd &`, as some CI runners and nohup-style wrappers do) passes SIGINT on
# ignored, and Python then leaves it ignored, so the interrupt tests would see the run finish instead.
ENTRY_POINT = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); from flexcode_bench.cli import main; main()"


def flexbench_env() -> dict[str, str]:
    """This checkout first on the path; one thread everywhere, so CPU results are bit-for-bit repeatable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", COLUMNS="200")
    return env


def start(*args: str, cwd: Path) -> subprocess.Popen:
    """``flexbench <args>`` in the background; stdout and stderr are pipes the caller reads or discards."""
    command = [sys.executable, "-c", ENTRY_POINT, *args]
    return subprocess.Popen(command, cwd=cwd, env=flexbench_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``flexbench <args>`` to completion."""
    command = [sys.executable, "-c", ENTRY_POINT, *args]
    return subprocess.run(command, cwd=cwd, env=flexbench_env(), capture_output=True, text=True, timeout=timeout, check=False)
