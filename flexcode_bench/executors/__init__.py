"""Where a grid's runs execute: in this process, one after another (``local``, the default), or as Ray
tasks on a cluster (``ray``, :mod:`flexcode_bench.executors.ray`).

Every executor runs each spec through :func:`flexcode_bench.runner.run_one`, so the run folder, the
skip-and-resume rule and what a run records are the same whichever executor ran it.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

ExecutorKind = Literal["local", "ray"]


class ExecutorConfig(BaseModel):
    """How a grid is executed; not part of any run's identity (it never changes what a run computes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: ExecutorKind = "local"
    address: Optional[str] = Field(default=None, description="Ray cluster address; None starts a local one.")
    cpus_per_run: int = Field(default=1, ge=1, description="Ray: CPUs reserved per run and torch threads it uses.")


LOCAL = ExecutorConfig()
