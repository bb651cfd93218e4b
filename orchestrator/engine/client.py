"""The Docker engine: connecting through the SDK, and running commands in containers with a deadline.

The engine is whatever the environment names (``DOCKER_HOST``, else the
default socket). Every engine failure becomes an ``EngineUnavailable`` with a
way to fix it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.errors import EngineUnavailable

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

ENGINE_FIX = "start the Docker engine (on Debian/Ubuntu as root: scripts/docker-engine), or set DOCKER_HOST to a running one; `labs doctor` checks it"


def connect(timeout: float = 120) -> docker.DockerClient:
    """A client for the environment's engine, or ``EngineUnavailable`` with the reason."""
    import docker
    from docker.errors import DockerException

    where = os.environ.get("DOCKER_HOST", "the default socket (unix:///var/run/docker.sock)")
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except DockerException as err:
        reason = str(err).split("(")[0].strip() or type(err).__name__
        raise EngineUnavailable(f"Docker engine not reachable at {where}: {reason}", ENGINE_FIX) from None
    return client


@contextlib.contextmanager
def engine_errors(action: str):
    """Turn an engine failure in the middle of ``action`` into one clear error."""
    import requests
    from docker.errors import APIError

    try:
        yield
    except (requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout) as err:
        raise EngineUnavailable(f"the Docker engine stopped answering while {action}: {type(err).__name__}", ENGINE_FIX) from None
    except APIError as err:
        raise EngineUnavailable(f"the Docker engine refused while {action}: {err.explanation or err}", "see `labs doctor`; the engine's log may say more") from None


@dataclass
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes

    @property
    def output(self) -> str:
        return (self.stdout + self.stderr).decode("utf-8", "replace")


# `timeout` exit status when the deadline killed the command.
DEADLINE_EXIT = 124


def exec_in(container: Container, argv: list[str], *, deadline: float = 30, user: str | None = None, environment: dict | None = None) -> ExecResult:
    """Run ``argv`` in a running container; the command is killed after ``deadline`` seconds.

    The Docker API has no exec timeout, so the deadline is enforced inside the
    container by coreutils ``timeout`` (present in every Debian image).
    """
    wrapped = ["timeout", "-k", "2", f"{deadline:g}", *argv]
    kwargs = {"demux": True, "environment": environment}
    if user:
        kwargs["user"] = user
    code, (out, err) = container.exec_run(wrapped, **kwargs)
    return ExecResult(code if code is not None else -1, out or b"", err or b"")
