"""Device selection shared by every model: ``auto`` picks CUDA when present, never assumes either.

Also the one check of a configured training precision against the device: bf16 autocast is only
fast where the hardware computes in bf16 (CUDA with bf16 support; a CPU with AVX512-BF16 or AMX,
which oneDNN uses). On an AVX2-only CPU PyTorch falls back to a scalar bf16 GEMM: TIGER at the ``cpu``
size trained 71 amazon-beauty targets/s in bf16 against 979 in fp32 on an AMD EPYC without AVX-512
(``bench/backbone_throughput.py``, one thread), 13.8x slower.
Such a run is refused before any work, never silently switched to fp32 (that would change what is
measured).
"""

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


def native_bf16(device: str) -> bool:
    """Whether ``device`` (a resolved torch device string) computes bf16 matmuls in hardware."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def check_precision(precision: str, device: str) -> None:
    """Refuse bf16 training on a device without native bf16 (see the module docstring)."""
    if precision == "bf16" and not native_bf16(device):
        import torch

        cpu = torch.backends.cpu.get_cpu_capability() if device == "cpu" else device
        raise ConfigError(
            f"precision bf16 needs native bf16 on the {device} device (AVX512-BF16 or AMX on a CPU); this one "
            f"({cpu}) runs bf16 matmuls many times slower than fp32",
            hint="drop precision: bf16 from the run's --config YAML; fp32 is the default",
        )
