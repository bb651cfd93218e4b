"""The learner's progress kept between commands: how many hints each lab instance has shown.

Stored as one JSON file in the user's data folder, written atomically (temp
file + rename), so a crash mid-write never corrupts it. A file that is corrupt
anyway, of the wrong shape, or not a regular file at all (a FIFO is never opened
in a way that could block) is set aside (renamed ``*.corrupt-<time>``) and
progress starts afresh.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from orchestrator.paths import state_dir, writable_state_dir

MAX_PROGRESS_BYTES = 1024 * 1024


def _path() -> Path:
    return state_dir() / "progress.json"


def _well_formed(data) -> bool:
    return isinstance(data, dict) and all(
        isinstance(entry, dict) and isinstance(entry.get("hints", 0), int) and not isinstance(entry.get("hints", 0), bool)
        for entry in data.values()
    )


def load() -> dict:
    from orchestrator.labfiles import UnsafeLabFile, read_bytes

    path = _path()
    if not os.path.lexists(path):
        return {}
    try:
        data = json.loads(read_bytes(path, MAX_PROGRESS_BYTES).decode("utf-8"))
        if not _well_formed(data):
            raise ValueError("not an object of {instance: {hints: N}}")
        return data
    except (ValueError, UnsafeLabFile, OSError):  # UnicodeDecodeError is a ValueError
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        try:
            path.rename(aside)
        except OSError:
            pass
        return {}


def save(data: dict) -> None:
    from orchestrator.errors import UsageError

    path = writable_state_dir() / "progress.json"
    try:
        _write(path, data)
    except OSError as err:
        raise UsageError(f"cannot save progress in {path}: {err.strerror}", "set LABS_STATE_DIR to a folder you can write to") from None


def _write(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".progress-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def next_hint(key: str, hints: list[str]) -> tuple[int, str, bool]:
    """The next hint for an instance: (1-based number, text, whether it is the last)."""
    data = load()
    shown = int(data.get(key, {}).get("hints", 0))
    number = min(shown + 1, len(hints))
    data.setdefault(key, {})["hints"] = number
    save(data)
    return number, hints[number - 1], number >= len(hints)


def forget(key: str) -> None:
    data = load()
    if key in data:
        del data[key]
        save(data)


def remember_stage(key: str, stage: str | None) -> None:
    """The stage a staged lab's last check reached (hints follow it)."""
    data = load()
    entry = data.setdefault(key, {})
    if entry.get("stage") != stage:
        entry["stage"] = stage
        save(data)


def current_stage(key: str) -> str | None:
    value = load().get(key, {}).get("stage")
    return value if isinstance(value, str) else None
