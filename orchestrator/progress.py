"""The learner's progress kept between commands: hints shown per lab instance, and the stage a
staged lab's last check reached (hints follow it).

Kept in the history database (orchestrator/history.py), which also records every attempt; an
old ``progress.json`` is imported into it once.
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


def reveal_hint(lab, key: str) -> dict:
    """The next hint of ``lab`` for the instance ``key``, following its current stage (staged
    labs): {hint, of, text, last, stage} — what `labs hint` and the web's Hint button show."""
    stage, hints, counter = _hint_track(lab, key)
    number, text, last = next_hint(counter, hints)
    return {"hint": number, "of": len(hints), "text": text, "last": last, "stage": stage}


def revealed_hints(lab, key: str) -> tuple[list[str], int]:
    """The hints already shown for the instance's current stage, and how many there are."""
    _, hints, counter = _hint_track(lab, key)
    history = History()
    try:
        shown = history.hints_shown(counter)
    finally:
        history.close()
    return hints[:shown], len(hints)


def _hint_track(lab, key: str) -> tuple[str | None, list[str], str]:
    """(stage, its hints, the key their counter is kept under)."""
    stage = (current_stage(key) or lab.stages[0].id) if lab.stages else None
    hints = lab.stage_hints(stage)
    return stage, hints, f"{key}#{stage}" if stage and hints != lab.hints else key


def forget(key: str) -> None:
    """Hints and stage start over (the instance was stopped or reset)."""
    history = History()
    try:
        history.forget_hints(key)
    finally:
        history.close()


def remember_stage(key: str, stage: str | None) -> None:
    """The stage a staged lab's last check reached (hints follow it)."""
    history = History()
    try:
        history.set_stage(key, stage)
    finally:
        history.close()


def current_stage(key: str) -> str | None:
    history = History()
    try:
        return history.stage(key)
    finally:
        history.close()
