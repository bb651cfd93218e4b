"""Shared check helpers for lab suites: the ``lab`` fixture (see ``checks.plugin``),
HTTP probes from outside (``checks.http``), and small helpers for verdicts that
say what the probe saw and where to look, never the command that fixes it.
"""

import time
from collections.abc import Callable

from checks.http import HttpResult, http_get

__all__ = ["HttpResult", "eventually", "http_get", "saw"]


def saw(what: str, where: str) -> str:
    """A failure message: what the probe saw, then where to look."""
    return f"{what} — look at {where}"


def poll(probe: Callable[[], object], done: Callable[[object], bool], seconds: float, interval: float,
         on_wait: Callable[[float], None] | None = None):
    """The one polling loop of the checks: call ``probe`` until ``done(answer)`` or ``seconds``
    pass, and return its last answer; ``on_wait(elapsed)`` hears each wait (a live line)."""
    started = time.monotonic()
    while True:
        answer = probe()
        elapsed = time.monotonic() - started
        if done(answer) or elapsed >= seconds:
            return answer
        if on_wait is not None:
            on_wait(elapsed)
        time.sleep(min(interval, max(0.0, seconds - elapsed)))


def eventually(probe: Callable[[], str | None], seconds: float = 15.0, interval: float = 0.3) -> str | None:
    """Run ``probe`` (which returns a problem, or None when all is well) until it finds no
    problem or ``seconds`` pass; return its last answer. Services take a moment to come back
    after a restart: a grace period, instead of failing on the first refused connection."""
    return poll(probe, lambda problem: problem is None, seconds, interval)
