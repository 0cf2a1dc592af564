"""Provenance of a run: the manifest (who, what, where, with which libraries, how long, how it ended).

Never imports torch: library versions are read from ``sys.modules`` for the heavy ones, so a report
process stays torch-free.
"""

from __future__ import annotations

import functools
import os
import platform
import socket
import subprocess
import sys
import traceback
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from flexcode_bench import __version__

SCHEMA_VERSION = 1
STATUSES = ("finished", "failed")
# Libraries reported only when the run already imported them: asking would import torch.
_IMPORTED_ONLY = ("torch", "recbole", "sentence_transformers", "faiss", "sklearn", "scipy")
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "sentence_transformers": "sentence-transformers", "faiss": "faiss-cpu"}


# ==== manifest ==================================================================================


def utc_now() -> str:
    """The current UTC time as ISO 8601, to the second (the format of manifest timestamps)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def describe_exception(exc: BaseException) -> str:
    """``"Type: message"`` then the traceback: the ``error`` string of a failed run's manifest."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"{type(exc).__name__}: {exc}\n\n{trace}"


def build_manifest(
    *,
    dataset: str,
    dataset_fingerprint: str,
    model: str,
    seed: int,
    device: str,
    config_hash: str,
    protocol: dict,
    timings: dict[str, float],
    status: str,
    error: str | None = None,
    diagnostics: dict | None = None,
    started_at: str | None = None,
) -> dict:
    """The manifest of a run that has just ended: provenance, protocol, costs and outcome.

    ``started_at`` should be :func:`utc_now` taken when the run began (null when not given);
    ``finished_at`` is now. ``error`` (required when ``status`` is "failed") is best made with
    :func:`describe_exception`.
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    if status == "failed" and not error:
        raise ValueError("a failed run must record its error")
    return {
        "schema_version": SCHEMA_VERSION,
        "status": status,
        "error": error,
        "dataset": dataset,
        "dataset_fingerprint": dataset_fingerprint,
        "model": model,
        "seed": int(seed),
        "config_hash": config_hash,
        "protocol": dict(protocol),
        "device": device,
        "host": host_compute(),
        "package_version": __version__,
        "git": dict(code_version()),
        "libraries": library_versions(),
        "command": list(sys.argv),
        "timings": {phase: float(seconds) for phase, seconds in timings.items()},
        "peak_memory_mib": peak_memory_mib(),
        "started_at": started_at,
        "finished_at": utc_now(),
        "diagnostics": dict(diagnostics or {}),
    }


@functools.cache
def code_version(directory: Path | None = None) -> dict[str, Any]:
    """:func:`git_info`, taken once per process: the checkout the running code was loaded from.

    A grid runs for hours in one process; a commit made meanwhile does not change the code it runs,
    so its later runs must not report the new commit. The runner takes this before its first run.
    """
    return git_info(directory)


def git_info(directory: Path | None = None) -> dict[str, Any]:
    """``{"sha", "dirty"}`` of the git checkout holding ``directory`` (default: this package); nulls otherwise."""
    directory = Path(directory) if directory is not None else Path(__file__).resolve().parent
    # A package installed into a venv that sits inside some other repo must not report that repo:
    # require the folder itself to hold tracked files.
    if _git(directory, "ls-files", "--error-unmatch", "--", ".") is None:
        return {"sha": None, "dirty": None}
    sha = _git(directory, "rev-parse", "HEAD")
    status = _git(directory, "status", "--porcelain")
    return {"sha": None if sha is None else sha.strip(), "dirty": None if status is None else bool(status.strip())}


def _git(directory: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), *args], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):  # no git, or it hung
        return None
    return done.stdout if done.returncode == 0 else None


def library_versions() -> dict[str, str | None]:
    """Versions of python and the data stack, plus torch & co. only when this process imported them."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("numpy", "pandas", "pyarrow"):
        versions[name] = _distribution_version(name)
    for name in _IMPORTED_ONLY:
        module = sys.modules.get(name)  # never import: reporting runs without torch
        if module is not None:
            version = getattr(module, "__version__", None)
            versions[name] = str(version) if version is not None else _distribution_version(name)
    torch = sys.modules.get("torch")
    if torch is not None:
        versions["torch_cuda"] = getattr(getattr(torch, "version", None), "cuda", None)
    return versions


def _distribution_version(name: str) -> str | None:
    try:
        return metadata.version(_DISTRIBUTIONS.get(name, name))
    except metadata.PackageNotFoundError:
        return None


def host_compute() -> dict[str, Any]:
    """The machine a run ran on (runs spread over a cluster say which one), its CPU model and logical
    cores, and the torch intra-op threads (null when torch is not loaded): what a wall time was bought with."""
    torch = sys.modules.get("torch")  # never import: reporting runs without torch
    return {"hostname": socket.gethostname(), "cpu_model": cpu_model(), "machine": platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads() if torch is not None else None}  # fmt: skip


@functools.cache
def cpu_model() -> str | None:
    """The CPU's marketing name (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def peak_memory_mib() -> float | None:
    """Peak resident memory of this process in MiB (null where ``resource`` is missing, i.e. Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_bytes = peak if sys.platform == "darwin" else peak * 1024  # macOS reports bytes, Linux KiB
    return round(peak_bytes / 2**20, 1)
