"""One command at a time per lab instance: an advisory file lock in the state folder.

A second ``labs start`` (or stop, reset) of the same instance while the first
still runs gets a ``Conflict`` at once instead of racing it. The lock dies with
its process, so a killed command never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os

from orchestrator.errors import Conflict
from orchestrator.paths import state_dir


@contextlib.contextmanager
def instance_lock(key: str, action: str):
    folder = state_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another labs command"
            raise Conflict(f"lab {key} is busy: {holder} is working on it", "wait for it to finish, then try again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"`labs {action}` (pid {os.getpid()})".encode(), 0)
        yield
    finally:
        os.close(fd)
