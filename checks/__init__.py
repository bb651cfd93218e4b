"""Shared check helpers for lab suites: the ``lab`` fixture (see ``checks.plugin``),
HTTP probes from outside (``checks.http``), and small helpers for verdicts that
say what the probe saw and where to look, never the command that fixes it.
"""

from checks.http import HttpResult, http_get

__all__ = ["HttpResult", "http_get", "saw"]


def saw(what: str, where: str) -> str:
    """A failure message: what the probe saw, then where to look."""
    return f"{what} — look at {where}"
