"""One command at a time per lab instance: an advisory file lock in the state folder.

A second ``labs start`` (or stop, reset, solve) of the same instance while the
first still runs gets a ``Conflict`` at once instead of racing it; ``labs check``,
which restarts services, waits a while for the holder and then says who it is. The lock dies with
its process, so a killed command never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import time

from orchestrator.errors import Conflict, UsageError
from orchestrator.paths import writable_state_dir


def _open_lock(path) -> int:
    """The lock file, opened without ever blocking or following a symlink; anything but a regular
    file in its place (a FIFO, a folder, a link) is set aside first."""
    for _ in range(2):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_NOFOLLOW, 0o600)
        except OSError:
            fd = None
        if fd is not None and stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
        if fd is not None:
            os.close(fd)
        try:
            os.rename(path, f"{path}.aside-{os.getpid()}")
        except OSError as err:
            raise UsageError(f"lock file {path} is not a regular file and cannot be moved aside: {err.strerror}", "remove it") from None
    raise UsageError(f"lock file {path} cannot be opened", "remove it, or set LABS_STATE_DIR to a folder you can write to")


@contextlib.contextmanager
def instance_lock(key: str, action: str, *, wait: float = 0, on_wait=None, remove_after: bool = False):
    """Hold instance ``key`` for ``action``. Busy: a ``Conflict`` naming the holder at once, or
    with ``wait`` after waiting up to that many seconds (``on_wait(holder)`` is told once).
    ``remove_after`` (stop) deletes the lock file while still holding it, so no file is left for
    an instance that no longer exists."""
    path = writable_state_dir("locks") / f"{key}.lock"
    fd = _open_lock(path)
    try:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = os.pread(fd, 128, 0).decode(errors="replace").strip() or "another labs command"
                if time.monotonic() >= deadline:
                    waited = f" (waited {wait:g} s)" if wait else ""
                    raise Conflict(f"lab {key} is busy: {holder} is working on it{waited}", "wait for it to finish, then try again") from None
                if on_wait is not None and not told:
                    on_wait(holder)
                    told = True
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"`labs {action}` (pid {os.getpid()})".encode(), 0)
        yield
        if remove_after:
            path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def remove_stale_locks() -> None:
    """Delete lock files no command holds (after `labs stop --all`)."""
    folder = writable_state_dir("locks")
    for path in folder.glob("*.lock"):
        try:
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                path.unlink(missing_ok=True)
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
