"""The learner's hint progress kept between commands: how many hints each lab instance has shown.

Kept in the history database (orchestrator/history.py) since it also records
every attempt; an old ``progress.json`` is imported into it once.
"""

from __future__ import annotations

from orchestrator.history import History


def next_hint(key: str, hints: list[str]) -> tuple[int, str, bool]:
    """The next hint for an instance: (1-based number, text, whether it is the last). Recorded."""
    history = History()
    try:
        number = history.next_hint(key, len(hints))
    finally:
        history.close()
    return number, hints[number - 1], number >= len(hints)


def forget(key: str) -> None:
    """Hints start over (the instance was stopped or reset)."""
    history = History()
    try:
        history.forget_hints(key)
    finally:
        history.close()
