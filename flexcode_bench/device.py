"""Device selection shared by every model: ``auto`` picks CUDA when present, never assumes either."""

from __future__ import annotations

from flexcode_bench.errors import ConfigError


def resolve_device(choice: str = "auto") -> str:
    """Map ``auto|cpu|cuda[:n]`` to a concrete torch device string."""
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cpu":
        return "cpu"
    if choice.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda was requested but CUDA is not available", hint="use --device auto or cpu")
        return choice
    raise ConfigError(f"--device must be auto, cpu or cuda, got {choice!r}")
