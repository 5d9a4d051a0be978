"""One live run per folder: an OS file lock (filelock: fcntl.flock on POSIX, msvcrt on Windows)
taken before any work and held until the run ends.

    with RunLock(RunDir(path)):      # RunFolderBusy at once when another live process holds it
        ...

The OS drops the lock when its process ends, however it ends (SIGKILL included), so a killed
run's folder is taken over by the next run or resume without any clean-up. The holder writes
who it is (pid, host, start time, command) beside the lock, and a refused run names it.
"""
from __future__ import annotations

import json
import os
import socket
import sys
from datetime import datetime, timezone

from filelock import FileLock, Timeout

from rm_lab.core.errors import RunFolderBusy
from rm_lab.core.io import write_json_atomic
from rm_lab.rundir.layout import RunDir


def describe_owner(run_dir: RunDir) -> str:
    try:
        owner = json.loads(run_dir.lock_owner.read_text())
    except (OSError, ValueError):
        return "another process (it has not written who it is yet)"
    return (f"process {owner.get('pid')} on host {owner.get('host')}, started {owner.get('started')}"
            + (f" ({owner['command']})" if owner.get("command") else ""))


class RunLock:
    """The folder's lock; `acquire()` fails at once with RunFolderBusy naming the live holder."""

    def __init__(self, run_dir: RunDir):
        self.run_dir = run_dir
        self._lock: FileLock | None = None

    def acquire(self) -> RunLock:
        self.run_dir.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.run_dir.lock), timeout=0)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise self.busy() from None
        self._lock = lock
        write_json_atomic(self.run_dir.lock_owner, {
            "pid": os.getpid(), "host": socket.gethostname(),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(["python -m rm_lab", *sys.argv[1:]])})
        return self

    def busy(self) -> RunFolderBusy:
        return RunFolderBusy(
            f"{self.run_dir.root} is in use by a live run: {describe_owner(self.run_dir)}. Wait for it to end "
            "(a killed run's folder is free at once), or give this run another folder (hydra.run.dir=...)")

    def check_free(self) -> None:
        """RunFolderBusy at once when a live process holds the folder; takes nothing (the run takes
        the lock when it starts): lets a command say so before its libraries load."""
        if not self.run_dir.lock.exists():
            return
        lock = FileLock(str(self.run_dir.lock), timeout=0)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise self.busy() from None
        lock.release()

    def release(self) -> None:
        if self._lock is None:
            return
        self.run_dir.lock_owner.unlink(missing_ok=True)
        self._lock.release()
        self._lock = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
