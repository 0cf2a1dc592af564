"""Cross-process locks on a shared folder: one lock file per run or shared stage, with a heartbeat.

Several ``flexbench run`` workers (processes on one machine, or machines sharing a file system) may
work on one results folder. Each unit of work — a run, the CF model of a dataset, a text-embedding
cache — is guarded by a lock file ``<name>.lock`` holding JSON ``{host, pid, token, acquired,
heartbeat}``:

- acquiring creates the file with ``O_CREAT | O_EXCL``, so exactly one process wins;
- while held, a daemon thread rewrites ``heartbeat`` every ``heartbeat_s`` seconds;
- a lock is *stale* when its pid is dead on this host, or its heartbeat is older than ``stale_s``
  (a worker on another host that vanished); a stale lock is taken over, under a short-lived
  ``<name>.lock.takeover`` mutex so that two workers never both take it over, and the takeover is
  logged with the previous owner;
- a holder whose lock was taken over (it stalled past ``stale_s``) notices at its next heartbeat:
  :attr:`FileLock.lost` turns true and :meth:`FileLock.check` raises, so it stops instead of
  finishing the same work twice.

This module is the only place that knows the lock format; the runner, the CF and codebook caches
(through :func:`fill_once`), the embedding cache and any executor (local, Ray) go through :class:`FileLock`.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from flexcode_bench.errors import FlexbenchError

HEARTBEAT_S = 10.0  # how often a holder refreshes its lock
STALE_S = 120.0  # a lock not refreshed for this long is abandoned (e.g. its host went away)
POLL_S = 0.5  # how often a waiting worker looks again
_TAKEOVER_MUTEX_STALE_S = 30.0  # a takeover holds its mutex for milliseconds; older means its taker died


T = TypeVar("T")


class LockLost(FlexbenchError):
    """Another worker took this lock over (our heartbeat stalled past the stale timeout)."""


def _host() -> str:
    return socket.gethostname()


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists on this host (signal 0 probes without signalling)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def read_lock(path: Path) -> dict | None:
    """The lock file's content, or None when there is none (or it is being written)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError, OSError):
        return None
    return data if isinstance(data, dict) else None


def stale_reason(info: dict, *, stale_s: float = STALE_S, now: float | None = None) -> str | None:
    """Why a lock held as ``info`` is abandoned, or None when its holder may still be alive."""
    now = time.time() if now is None else now
    if info.get("host") == _host() and not pid_alive(int(info.get("pid", -1))):
        return f"pid {info.get('pid')} on {info.get('host')} is no longer running"
    age = now - float(info.get("heartbeat", 0.0))
    if age > stale_s:
        return f"its heartbeat is {age:.0f} s old (timeout {stale_s:.0f} s)"
    return None


def describe_holder(info: dict | None) -> str:
    if info is None:
        return "another worker"
    return f"pid {info.get('pid')} on {info.get('host')}"


class FileLock:
    """An exclusive lock on ``path`` (a ``.lock`` file) shared by processes and hosts.

    Use as ``with FileLock(p):`` to wait for it, or ``if lock.acquire(wait=False):`` to try
    once. ``release`` removes the file only while it is still ours.
    """

    def __init__(self, path: str | os.PathLike[str], *, heartbeat_s: float = HEARTBEAT_S, stale_s: float = STALE_S) -> None:
        self.path = Path(path)
        self.heartbeat_s = heartbeat_s
        self.stale_s = stale_s
        self.token = uuid.uuid4().hex
        self.held = False
        self.lost = False
        self.taken_over: str | None = None  # why the previous holder's lock was considered abandoned
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- acquiring ---------------------------------------------------------------------------
    def acquire(self, *, wait: bool = True, timeout: float | None = None) -> bool:
        """Take the lock; with ``wait`` poll until it is free or stale (or ``timeout`` seconds pass)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._try_create() or self._try_takeover():
                self.held, self.lost = True, False
                self._start_heartbeat()
                return True
            if not wait or (deadline is not None and time.monotonic() >= deadline):
                return False
            time.sleep(POLL_S)

    def holder(self) -> dict | None:
        """Who holds the lock now, as recorded in the file."""
        return read_lock(self.path)

    def _payload(self, acquired: float | None = None) -> str:
        now = time.time()
        return json.dumps(
            {"host": _host(), "pid": os.getpid(), "token": self.token, "acquired": acquired or now, "heartbeat": now}
        )

    def _try_create(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self._payload())
        self._acquired = time.time()
        return True

    def _try_takeover(self) -> bool:
        info = read_lock(self.path)
        if info is None:
            return False  # gone (try to create next time) or half-written by its creator this instant
        reason = stale_reason(info, stale_s=self.stale_s)
        if reason is None:
            return False
        mutex = self.path.with_name(self.path.name + ".takeover")
        try:
            fd = os.open(mutex, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                if time.time() - mutex.stat().st_mtime > _TAKEOVER_MUTEX_STALE_S:
                    mutex.unlink(missing_ok=True)  # its taker died mid-takeover
            except FileNotFoundError:
                pass
            return False
        os.close(fd)
        try:
            current = read_lock(self.path)
            if current is None or current.get("token") != info.get("token"):
                return False  # someone released or took it meanwhile: start over
            self._acquired = time.time()
            self._write_own()
        finally:
            mutex.unlink(missing_ok=True)
        self.taken_over = f"took over the lock {self.path} from {describe_holder(info)}: {reason}"
        from flexcode_bench import console

        console.warning(self.taken_over)
        return True

    def _write_own(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{self.token}.tmp")
        tmp.write_text(self._payload(self._acquired), encoding="utf-8")
        os.replace(tmp, self.path)

    # ---- holding -----------------------------------------------------------------------------
    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {self.path.name}", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            self.refresh()

    def refresh(self) -> None:
        """Rewrite the heartbeat now; marks the lock lost when the file is no longer ours."""
        if not self.held or self.lost:
            return
        current = read_lock(self.path)
        if current is None or current.get("token") != self.token:
            self.lost = True
            return
        self._write_own()

    def check(self) -> None:
        """Raise :class:`LockLost` when another worker has taken this lock over."""
        if self.lost:
            raise LockLost(
                f"lost the lock {self.path} to {describe_holder(self.holder())}",
                hint="this worker stalled longer than the stale timeout; the other worker continues the work",
            )

    def release(self) -> None:
        """Stop the heartbeat and remove the lock file if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.held:
            current = read_lock(self.path)
            if current is not None and current.get("token") == self.token:
                self.path.unlink(missing_ok=True)
        self.held = False

    def __enter__(self) -> FileLock:
        self.acquire(wait=True)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def lock_path_for(target: str | os.PathLike[str]) -> Path:
    """The lock file guarding ``target`` (a file or folder): ``<target>.lock`` beside it."""
    target = Path(target)
    return target.with_name(target.name + ".lock")


def fill_once(
    cache: Path, folder: Path, *, load: Callable[[Path], T], compute: Callable[[], T], save: Callable[[Path, T], None]
) -> T:
    """A shared stage's cached value: ``load`` it, or ``compute`` and ``save`` it once for every worker.

    Workers sharing ``folder`` wait on the cache's lock while the first fills it, then load what it saved.
    Without ``folder`` (an in-memory dataset) there is nowhere to cache, so the value is computed each time.
    """
    if cache.is_file():
        return load(cache)
    if not folder.is_dir():
        return compute()
    with FileLock(lock_path_for(cache)):
        if cache.is_file():
            return load(cache)
        value = compute()
        save(cache, value)
    return value
