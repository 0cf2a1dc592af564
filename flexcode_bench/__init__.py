"""flexbench: an honest benchmarking toolkit for generative recommendation.

The public API is imported lazily so that ``import flexcode_bench`` (and so ``flexbench --help``)
never pulls in torch, pandas or sentence-transformers.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "prepare": "flexcode_bench.data.prepare:prepare",
    "load_prepared": "flexcode_bench.data.prepared:load_prepared",
    "load_catalogue": "flexcode_bench.data.catalogue:load_catalogue",
    "run_grid": "flexcode_bench.runner:run_grid",
    "run_one": "flexcode_bench.runner:run_one",
    "load_runs": "flexcode_bench.results:load_runs",
    "build_report": "flexcode_bench.reporting.report:build_report",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'flexcode_bench' has no attribute {name!r}")
    module_name, attr = target.split(":")
    return getattr(import_module(module_name), attr)
