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


def _lock_path(key: str):
    return state_dir() / "locks" / f"{key}.lock"


@contextlib.contextmanager
def instance_lock(key: str, action: str, *, remove_after: bool = False):
    """Hold the instance's lock for ``action``; ``remove_after`` (stop) deletes the lock file
    while still holding it, so no file is left for an instance that no longer exists."""
    path = _lock_path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
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
        if remove_after:
            path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def remove_stale_locks() -> None:
    """Delete lock files no command holds (after `labs stop --all`)."""
    for path in (state_dir() / "locks").glob("*.lock"):
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path.unlink(missing_ok=True)
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
