"""The checksum lock file of one raw-source folder: ``{local_name: {"sha256", "bytes", "url"}}``.

Where the catalogue pins no checksum, the first fetch records the one seen here and later runs
verify against it, so an upstream file that silently changes is caught instead of silently used.
"""

from __future__ import annotations

import json
from pathlib import Path

from flexcode_bench import atomic
from flexcode_bench.errors import DataFormatError

LOCK_FILE = "checksums.lock.json"


class ChecksumLock:
    """The checksum lock file of one source folder; saved atomically, and only when it changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries = self._load()
        self._dirty = False

    def _load(self) -> dict[str, dict]:
        if not self.path.is_file():
            return {}
        try:
            entries = json.loads(self.path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataFormatError(
                f"{self.path} is not valid JSON ({exc}); expected {{file name: {{sha256, bytes, url}}}}",
                hint="delete the file; the next fetch records the checksums again",
            ) from None
        if not isinstance(entries, dict):
            raise DataFormatError(
                f"{self.path} holds a {type(entries).__name__}; expected {{file name: {{sha256, bytes, url}}}}",
                hint="delete the file; the next fetch records the checksums again",
            )
        return entries

    def sha256(self, name: str) -> str | None:
        entry = self._entries.get(name)
        return entry.get("sha256") if isinstance(entry, dict) else None

    def record(self, name: str, sha256: str, size: int, url: str | None) -> None:
        entry = {"sha256": sha256, "bytes": size, "url": url}
        if self._entries.get(name) != entry:
            self._entries[name] = entry
            self._dirty = True

    def forget(self, name: str) -> None:
        """Drop a file's entry (its download was damaged and deleted; the next fetch records it anew)."""
        if self._entries.pop(name, None) is not None:
            self._dirty = True

    def save(self) -> None:
        if self._dirty:
            atomic.write_text(self.path, json.dumps(self._entries, indent=2, sort_keys=True) + "\n")
            self._dirty = False
