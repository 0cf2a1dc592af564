"""The prepared-dataset folder and its typed, read-only view.

Layout of ``<data-dir>/<dataset>/`` (written atomically by :func:`flexcode_bench.data.prepare.prepare`)::

    interactions.parquet  user:int32, item:int32, timestamp:float64 (NaN without timestamps),
                          position:int32 (0-based, chronological within the user), split:str
                          ("train" | "valid" | "test"), sorted by (user, position)
    users.parquet         user:int32, original_id:str
    items.parquet         item:int32, original_id:str, text:str, train_count:int64, <text fields>:str
    stats.json            counts, per-split counts, sequence lengths, rows dropped per step
    manifest.json         source checksums, config hash, policies, package version, fingerprint
    quarantine.jsonl      malformed input lines (only when there were any)
    embeddings/           cached item-text embeddings (see flexcode_bench.data.embeddings)

Ids are dense and 0-based: users 0..n_users-1, items 0..n_items-1. Models that need a padding id
shift by one internally; no padding id ever exists in this data.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from flexcode_bench.errors import DataFormatError

INTERACTIONS = "interactions.parquet"
USERS = "users.parquet"
ITEMS = "items.parquet"
STATS = "stats.json"
MANIFEST = "manifest.json"
QUARANTINE = "quarantine.jsonl"
EMBEDDINGS_DIR = "embeddings"
SPLITS = ("train", "valid", "test")


def default_data_dir() -> Path:
    return Path(os.environ.get("FLEXBENCH_DATA", "data"))


@dataclass(frozen=True)
class PreparedDataset:
    """A prepared dataset, loaded from disk. Everything derived is computed from the training split only."""

    name: str
    path: Path
    interactions: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    stats: dict
    manifest: dict

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def fingerprint(self) -> str:
        """Content hash of the prepared files (stable across machines); recorded in every run manifest."""
        return self.manifest["fingerprint"]

    @cached_property
    def train_sequences(self) -> list[np.ndarray]:
        """Per user (index = user id), the chronological training items (int64)."""
        train = self.interactions[self.interactions["split"] == "train"]
        return _split_by_user(train, self.n_users)

    @cached_property
    def valid_targets(self) -> np.ndarray:
        return self._targets("valid")

    @cached_property
    def test_targets(self) -> np.ndarray:
        return self._targets("test")

    def history(self, split: str) -> list[np.ndarray]:
        """Model input when predicting ``split``'s target: training items, plus the validation item for test."""
        if split == "valid":
            return self.train_sequences
        if split == "test":
            return [np.append(seq, tgt) for seq, tgt in zip(self.train_sequences, self.valid_targets)]
        raise ValueError(f"split must be 'valid' or 'test', got {split!r}")

    def targets(self, split: str) -> np.ndarray:
        if split not in ("valid", "test"):
            raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
        return self.valid_targets if split == "valid" else self.test_targets

    @cached_property
    def train_counts(self) -> np.ndarray:
        """Training-split interaction count per item (int64, length n_items)."""
        return self.items["train_count"].to_numpy(dtype=np.int64)

    @cached_property
    def item_texts(self) -> list[str]:
        return self.items["text"].tolist()

    def _targets(self, split: str) -> np.ndarray:
        rows = self.interactions[self.interactions["split"] == split]
        targets = np.full(self.n_users, -1, dtype=np.int64)
        targets[rows["user"].to_numpy()] = rows["item"].to_numpy()
        if (targets < 0).any():
            raise DataFormatError(f"{self.path / INTERACTIONS}: some users have no {split} interaction")
        return targets


def _split_by_user(rows: pd.DataFrame, n_users: int) -> list[np.ndarray]:
    users = rows["user"].to_numpy()
    items = rows["item"].to_numpy().astype(np.int64)
    order = np.argsort(users, kind="stable")  # rows are already (user, position)-sorted; stable keeps that
    users, items = users[order], items[order]
    bounds = np.searchsorted(users, np.arange(n_users + 1))
    return [items[bounds[u] : bounds[u + 1]] for u in range(n_users)]


def prepared_datasets(data_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Names of the datasets prepared under ``data_dir``, sorted: every folder holding a manifest.

    Staging and backup folders (a leading ".") and ``raw/`` downloads are not prepared datasets.
    """
    root = Path(data_dir if data_dir is not None else default_data_dir())
    if not root.is_dir():
        return []
    return sorted(
        child.name for child in root.iterdir() if not child.name.startswith(".") and (child / MANIFEST).is_file()
    )


def file_sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_prepared(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The prepared folder of ``name``, after checking it is there and its files are those ``prepare`` wrote.

    Raises:
        DataFormatError: never prepared (the hint names the command), or a file is missing or
            changed since prepare (fingerprint mismatch), naming the file.
    """
    path = Path(data_dir if data_dir is not None else default_data_dir()) / name
    if not (path / MANIFEST).is_file():
        raise DataFormatError(
            f"dataset {name!r} is not prepared in {path}",
            hint=f"run `flexbench prepare {name}` (or pass --data-dir / set FLEXBENCH_DATA)",
        )
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{path / MANIFEST} is not readable JSON: {exc}", hint=f"run `flexbench prepare {name} --force`") from None
    for file, expected in (manifest.get("files") or {}).items():  # datasets prepared before checksums were kept have none
        if not (path / file).is_file():
            raise DataFormatError(f"{path / file} is missing", hint=f"run `flexbench prepare {name} --force`")
        if file_sha256(path / file) != expected:
            raise DataFormatError(
                f"{path / file} changed after `flexbench prepare` (its checksum no longer matches the dataset fingerprint)",
                hint=f"run `flexbench prepare {name} --force` to rebuild it, or restore the file",
            )
    return path


def load_prepared(name: str, data_dir: str | os.PathLike[str] | None = None) -> PreparedDataset:
    """Load ``<data_dir>/<name>/`` after :func:`check_prepared`; errors name the command or the changed file."""
    path = check_prepared(name, data_dir)
    return PreparedDataset(
        name=name,
        path=path,
        interactions=pd.read_parquet(path / INTERACTIONS),
        users=pd.read_parquet(path / USERS),
        items=pd.read_parquet(path / ITEMS),
        stats=json.loads((path / STATS).read_text()),
        manifest=json.loads((path / MANIFEST).read_text()),
    )
