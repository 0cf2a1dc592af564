"""The scratch folder of an unfinished run, ``<run>.partial/``, and the record of its attempts.

It lives beside the run folder, not inside it, because the run folder is swapped in whole at the
end (:func:`flexcode_bench.atomic.atomic_directory`); the lock (``<run>.lock``) lives beside both, so
neither the swap nor the clean-up can race it. It holds:

    attempts.json     config_hash, and per attempt: started_at, from_epoch, last_epoch, seconds, ended
    config.yaml       the resolved config it trains (the run folder's ``config.yaml`` to be), so an
                      unfinished run can be read for what it is (``bench/time_to_quality.py`` draws
                      the curve so far from it and the checkpoint)
    checkpoint.pt     the training loop's state after the last completed epoch (see training.Checkpoint)
    checkpoint.json   which epoch checkpoint.pt holds
    build_codes.pt    a generative model's finished tokenisation (RQ-VAE codes, vocabulary, router)

An attempt's ``seconds`` is its wall time up to its end, or, for an attempt that was killed, up to
the last completed epoch it recorded. The folder is removed once the run is recorded; only with
``--keep-checkpoints`` are the best weights kept, as ``model.pt`` in the run folder.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flexcode_bench.atomic import write_text
from flexcode_bench.provenance import utc_now
from flexcode_bench.results.layout import CONFIG
from flexcode_bench.results.write import config_text
from flexcode_bench.training import checkpointed_epoch

ATTEMPTS = "attempts.json"


def partial_dir(run_path: Path) -> Path:
    """``<results>/<dataset>/<model>/seed-<n>.partial``: where an unfinished run keeps its state."""
    run_path = Path(run_path)
    return run_path.with_name(run_path.name + ".partial")


class PartialRun:
    """One attempt at a run, recorded in its partial folder; a folder of another config is started over."""

    def __init__(self, run_path: Path, config: Mapping[str, Any]) -> None:
        self.path = partial_dir(run_path)
        self.config_hash = config_hash = config["config_hash"]
        record = self._read()
        if self.path.exists() and (record is None or record.get("config_hash") != config_hash):
            shutil.rmtree(self.path)  # checkpoints of another config (or of unknown origin) cannot be resumed
            record = None
        self.attempts: list[dict] = [] if record is None else list(record.get("attempts", []))
        for attempt in self.attempts:
            attempt.setdefault("ended", "killed")  # no end recorded: the process died (SIGKILL, power, OOM)
        self.from_epoch = checkpointed_epoch(self.path)
        self._started = time.perf_counter()
        self.current = {"started_at": utc_now(), "from_epoch": self.from_epoch, "last_epoch": self.from_epoch, "seconds": 0.0}
        self.attempts.append(self.current)
        self._write()
        write_text(self.path / CONFIG, config_text(config))

    @property
    def resumed(self) -> bool:
        return len(self.attempts) > 1

    def progress(self, epoch: int) -> None:
        """Record that ``epoch`` completed (so a killed attempt still has its wall time)."""
        self.current["last_epoch"] = epoch
        self.current["seconds"] = time.perf_counter() - self._started
        self._write()

    def end(self, how: str) -> None:
        """Close this attempt: "finished", "failed" or "interrupted"."""
        self.current["seconds"] = time.perf_counter() - self._started
        self.current["ended"] = how
        if self.path.is_dir():
            self._write()

    def checkpointed_epoch(self) -> int:
        return checkpointed_epoch(self.path)

    def summary(self) -> dict:
        """What the manifest records: whether the run was resumed, the checkpointed epoch its last attempt
        continued from (a run cut off twice continues from the later cut), each attempt's wall time."""
        resumed_from = self.attempts[-1]["from_epoch"] if self.resumed else None
        return {"resumed": self.resumed, "resumed_from_epoch": resumed_from, "attempts": self.attempts}

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def _read(self) -> dict | None:
        try:
            data = json.loads((self.path / ATTEMPTS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write(self) -> None:
        write_text(self.path / ATTEMPTS, json.dumps({"config_hash": self.config_hash, "attempts": self.attempts}, indent=2))
