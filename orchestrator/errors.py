"""Errors the core raises, each carrying the exit code the CLI returns for it.

Every user-facing failure is one ``LabsError``: a message saying what went
wrong and where, and a ``fix`` saying what to do. The CLI prints both and
exits with ``code``; nothing else reaches the user as a traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, by meaning (documented in README.md)."""

    OK = 0
    CHECKS_FAILED = 1
    USAGE = 2  # bad command line or invalid lab spec
    NOT_FOUND = 3  # no such lab, service or running instance
    ENGINE = 4  # Docker engine unreachable or failing
    TIMEOUT = 5  # readiness, deploy or check timed out
    CONFLICT = 6  # a port is taken, or another command holds the instance
    BUILD = 7  # image build or lab deploy (break/solution) failed
    INTERRUPTED = 130


class LabsError(Exception):
    """A failure to report to the user as one clear message."""

    code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, fix: str | None = None, *, code: ExitCode | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix
        if code is not None:
            self.code = code

    def to_dict(self) -> dict:
        return {"error": self.message, "fix": self.fix, "exit_code": int(self.code)}


class SpecError(LabsError):
    """A lab folder or its lab.yaml is invalid."""

    code = ExitCode.USAGE


class UsageError(LabsError):
    code = ExitCode.USAGE


class NotFound(LabsError):
    code = ExitCode.NOT_FOUND


class EngineUnavailable(LabsError):
    code = ExitCode.ENGINE


class Timeout(LabsError):
    code = ExitCode.TIMEOUT


class Conflict(LabsError):
    code = ExitCode.CONFLICT


class BuildFailed(LabsError):
    code = ExitCode.BUILD


class Interrupted(LabsError):
    code = ExitCode.INTERRUPTED
