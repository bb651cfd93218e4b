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


def answer_deadline() -> float:
    """Seconds an engine has to answer a quick question (version, ping, a lookup) before labs
    calls it hung: ``LABS_ENGINE_DEADLINE``, default 5."""
    try:
        return max(0.5, float(os.environ.get("LABS_ENGINE_DEADLINE", "5")))
    except ValueError:
        return 5.0


def connect(timeout: float = 120) -> docker.DockerClient:
    """A client for the environment's engine, or ``EngineUnavailable`` with the reason.

    The engine must answer its version and a ping within ``answer_deadline()`` seconds (a socket
    that accepts and never answers is a hung engine, not a 2-minute wait); later calls get
    ``timeout``."""
    import docker
    import requests
    from docker.errors import DockerException

    where = os.environ.get("DOCKER_HOST", "the default socket (unix:///var/run/docker.sock)")
    deadline = min(timeout, answer_deadline())
    try:
        client = docker.from_env(timeout=deadline)
        client.ping()
    except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as err:
        if isinstance(err, requests.exceptions.Timeout) or "timed out" in str(err).lower():
            raise EngineUnavailable(f"Docker engine at {where} accepts connections but did not answer within {deadline:g} s (hung?)", ENGINE_FIX) from None
        raise EngineUnavailable(f"Docker engine not reachable at {where}: {type(err).__name__}", ENGINE_FIX) from None
    except DockerException as err:
        reason = str(err).split("(")[0].strip() or type(err).__name__
        if "timed out" in str(err).lower():
            reason = f"it accepts connections but did not answer within {deadline:g} s (hung?)"
        raise EngineUnavailable(f"Docker engine not reachable at {where}: {reason}", ENGINE_FIX) from None
    client.api.timeout = timeout
    return client


@contextlib.contextmanager
def quick_answers(client: docker.DockerClient):
    """Within this block, every engine call must answer within ``answer_deadline()`` (lookups of
    read-only commands); the client's usual timeout comes back afterwards."""
    previous = client.api.timeout
    client.api.timeout = answer_deadline()
    try:
        yield
    finally:
        client.api.timeout = previous


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
