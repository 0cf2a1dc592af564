"""Lock files shared by workers: one holder at a time, a heartbeat, stale locks taken over and logged."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from flexcode_bench.locks import FileLock, LockLost, read_lock, stale_reason


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(done.stdout)


def write_foreign_lock(path, *, host: str, pid: int, heartbeat: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host, "pid": pid, "token": "theirs", "acquired": heartbeat, "heartbeat": heartbeat}))


def test_only_one_holder_at_a_time_and_release_frees_it(tmp_path):
    first, second = FileLock(tmp_path / "run.lock"), FileLock(tmp_path / "run.lock")
    assert first.acquire(wait=False)
    assert not second.acquire(wait=False)
    holder = read_lock(tmp_path / "run.lock")
    assert holder["host"] == socket.gethostname() and holder["pid"] == os.getpid()
    first.release()
    assert not (tmp_path / "run.lock").exists()
    assert second.acquire(wait=False)
    second.release()


def test_the_heartbeat_refreshes_the_lock_while_it_is_held(tmp_path):
    lock = FileLock(tmp_path / "run.lock", heartbeat_s=0.05)
    assert lock.acquire(wait=False)
    first = read_lock(lock.path)["heartbeat"]
    deadline = time.monotonic() + 10  # a loaded machine may delay the thread, never stop it
    while read_lock(lock.path)["heartbeat"] == first and time.monotonic() < deadline:
        time.sleep(0.02)
    assert read_lock(lock.path)["heartbeat"] > first
    lock.release()


def test_a_lock_of_a_dead_pid_on_this_host_is_taken_over_and_the_takeover_logged(tmp_path, capsys):
    path = tmp_path / "run.lock"
    write_foreign_lock(path, host=socket.gethostname(), pid=_dead_pid(), heartbeat=time.time())
    lock = FileLock(path)
    assert lock.acquire(wait=False)
    assert "is no longer running" in lock.taken_over
    assert read_lock(path)["token"] == lock.token
    assert "took over the lock" in " ".join(capsys.readouterr().err.split())
    lock.release()


def test_a_lock_whose_heartbeat_stopped_on_another_host_is_taken_over_after_the_timeout(tmp_path):
    path = tmp_path / "run.lock"
    write_foreign_lock(path, host="elsewhere", pid=1, heartbeat=time.time())
    assert not FileLock(path, stale_s=60).acquire(wait=False)  # fresh: its worker may be alive
    write_foreign_lock(path, host="elsewhere", pid=1, heartbeat=time.time() - 120)
    lock = FileLock(path, stale_s=60)
    assert lock.acquire(wait=False)
    assert "heartbeat is 120 s old" in lock.taken_over
    lock.release()


def test_a_holder_that_stalled_past_the_timeout_learns_it_lost_the_lock(tmp_path):
    stalled = FileLock(tmp_path / "run.lock", heartbeat_s=3600)  # its heartbeat never comes in time
    assert stalled.acquire(wait=False)
    time.sleep(0.2)
    taker = FileLock(tmp_path / "run.lock", stale_s=0.1)
    assert taker.acquire(wait=False)
    stalled.refresh()
    with pytest.raises(LockLost, match="lost the lock"):
        stalled.check()
    stalled.release()  # must not remove the taker's lock
    assert read_lock(taker.path)["token"] == taker.token
    taker.release()


def test_a_live_lock_is_not_stale():
    assert stale_reason({"host": socket.gethostname(), "pid": os.getpid(), "heartbeat": time.time()}) is None


def test_waiting_for_a_lock_returns_once_its_holder_releases_it(tmp_path):
    holder = FileLock(tmp_path / "stage.lock")
    holder.acquire()
    waiter = FileLock(tmp_path / "stage.lock")
    assert not waiter.acquire(timeout=0.6)
    holder.release()
    assert waiter.acquire(timeout=5)
    waiter.release()
