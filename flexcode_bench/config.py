"""Typed configurations and the one config hash.

Precedence, everywhere: defaults < profile < YAML file < command-line flags. A config is a pydantic
model with ``extra="forbid"``, so a mistyped key fails loudly instead of being ignored; its hash is
the SHA-256 of its canonical JSON and is what ``prepare`` and ``run`` use to decide whether work
can be skipped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flexcode_bench.data.prepared import default_data_dir


def stable_hash(value: Mapping[str, Any] | BaseModel, *, length: int = 16) -> str:
    """SHA-256 of canonical JSON (sorted keys, no whitespace); a ``config_hash`` key is ignored."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    payload = {k: v for k, v in value.items() if k != "config_hash"}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:length]


class PrepareConfig(BaseModel):
    """Everything ``flexbench prepare`` needs. Only the fields in :meth:`processing_key` change the output."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str
    source: str | None = Field(default=None, description="Catalogue source; default: the dataset's default_source.")
    k_core: int | None = Field(default=None, ge=1, description="Iterative k-core; default: the catalogue's k_core.")
    data_dir: Path = Field(default_factory=default_data_dir, description="Where prepared datasets live.")
    raw_dir: Path | None = Field(default=None, description="Use files placed here by hand; no network.")
    mirror: str | None = Field(default=None, description="Replace the download host by this URL.")
    force: bool = Field(default=False, description="Redo preprocessing and embeddings even when up to date.")
    encoder: str = Field(default="all-MiniLM-L6-v2", description="Item-text encoder; 'none' skips embeddings.")
    device: str = Field(default="auto", description="auto | cpu | cuda for the text encoder.")
    catalogue: Path | None = Field(default=None, description="Catalogue file; default: the bundled datasets.yaml.")
