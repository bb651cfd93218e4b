"""The Docker engine: connecting through the SDK, and running commands in containers with a deadline.

The engine is the one the ``docker`` CLI would use (``engine.contexts``:
DOCKER_HOST, DOCKER_CONTEXT, the current context). Every engine failure becomes
an ``EngineUnavailable`` that keeps its cause and says how to fix it.
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

ENGINE_FIX = "start Docker (Docker Desktop, colima, OrbStack, or the docker service), or point DOCKER_HOST or `docker context use` at a running engine; `labs doctor` says what is wrong"


def _cause(err: BaseException) -> str:
    """The innermost reason of an exception chain, e.g. "Permission denied" or "Connection refused"."""
    reasons = []
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        text = str(err).strip()
        if text:
            reasons.append(text)
        err = err.__cause__ or err.__context__
    for text in reversed(reasons):
        for marker in ("Permission denied", "Connection refused", "No such file or directory", "timed out", "Name or service not known", "Host key verification failed"):
            if marker in text:
                return marker
    last = reasons[-1] if reasons else "no reason given"
    return last if len(last) <= 300 else last[:300] + "…"


def client_for(endpoint, timeout: float = 120) -> docker.DockerClient:
    """An SDK client for ``endpoint`` (a ``contexts.Endpoint``), not yet contacted."""
    import docker
    from docker.tls import TLSConfig

    tls = False
    if endpoint.tls_dir and (endpoint.tls_verify or endpoint.scheme == "tcp"):
        folder = endpoint.tls_dir
        cert = (os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem"))
        ca = os.path.join(folder, "ca.pem")
        tls = TLSConfig(
            client_cert=cert if os.path.isfile(cert[0]) else None,
            ca_cert=ca if endpoint.tls_verify and os.path.isfile(ca) else None,
            verify=endpoint.tls_verify,
        )
    # ssh:// engines: the ssh client on PATH (honours ~/.ssh/config and agents) unless paramiko is installed.
    use_ssh_client = endpoint.scheme == "ssh" and not _has_paramiko()
    # The context's CA is the one to trust: REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the
    # environment would otherwise silently replace it for tcp+TLS endpoints. The SDK asks the
    # engine its API version while it is constructed, before the session could be told so: it is
    # built with a provisional version, told, and only then asks.
    client = docker.DockerClient(base_url=endpoint.host, tls=tls, timeout=timeout, use_ssh_client=use_ssh_client, version=_PROVISIONAL_API)
    client.api.trust_env = False
    client.api._version = client.api._retrieve_server_version()
    return client


_PROVISIONAL_API = "1.24"  # the SDK's minimum; replaced by the engine's own version before any other call


def _has_paramiko() -> bool:
    import importlib.util

    return importlib.util.find_spec("paramiko") is not None


def answer_deadline() -> float:
    """Seconds an engine has to answer a quick question (version, ping, a lookup) before labs
    calls it hung: ``LABS_ENGINE_DEADLINE``, default 5."""
    try:
        return max(0.5, float(os.environ.get("LABS_ENGINE_DEADLINE", "5")))
    except ValueError:
        return 5.0


def connect(timeout: float = 120) -> docker.DockerClient:
    """A client for the engine the docker CLI would use (DOCKER_HOST, DOCKER_CONTEXT, the current
    context), or ``EngineUnavailable`` naming that engine and the cause.

    The engine must answer a ping within ``answer_deadline()`` seconds (a socket that accepts and
    never answers is a hung engine, not a 2-minute wait); later calls get ``timeout``."""
    from orchestrator.engine.contexts import current_endpoint

    endpoint = current_endpoint()
    deadline = min(timeout, answer_deadline())
    try:
        client = client_for(endpoint, deadline)
        client.ping()
    except Exception as err:  # noqa: BLE001 - the SDK raises many kinds here (DockerException, OSError, ssh errors)
        cause = _cause(err)
        if cause == "timed out" or "Timeout" in type(err).__name__:
            raise EngineUnavailable(f"Docker engine at {endpoint.describe()} accepts connections but did not answer within {deadline:g} s (hung?)", ENGINE_FIX) from None
        raise EngineUnavailable(f"Docker engine not reachable at {endpoint.describe()}: {cause}", connect_fix(endpoint, err)) from None
    client.api.timeout = timeout
    return client


def connect_fix(endpoint, err: BaseException | None = None) -> str:
    """What to do about an engine that does not answer, by what the cause looks like."""
    cause = _cause(err) if err is not None else ""
    if "Permission denied" in cause and endpoint.scheme == "unix":
        return f"your user may not use {endpoint.host}: add it to the docker group (`sudo usermod -aG docker $USER`, then log in again), or run rootless Docker"
    if endpoint.scheme == "ssh":
        return f"check that `docker -H {endpoint.host} version` works (ssh keys, known_hosts, docker on the remote PATH), then retry; `labs doctor` says more"
    return ENGINE_FIX


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
        raise EngineUnavailable(f"the Docker engine stopped answering while {action}: {type(err).__name__}: {_cause(err)}", ENGINE_FIX) from None
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
