"""The learner's progress kept between commands: how many hints each lab instance has shown.

Stored as one JSON file in the user's data folder, written atomically (temp
file + rename), so a crash mid-write never corrupts it. A file that is corrupt
anyway is set aside (renamed ``*.corrupt-<time>``) and progress starts afresh.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from orchestrator.paths import state_dir


def _path() -> Path:
    return state_dir() / "progress.json"


def load() -> dict:
    path = _path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return data
    except FileNotFoundError:
        return {}
    except (ValueError, UnicodeDecodeError, OSError):
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        try:
            path.rename(aside)
        except OSError:
            pass
        return {}


def save(data: dict) -> None:
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
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
