"""Which engine to talk to, decided the way the ``docker`` CLI decides it (no SDK import).

The CLI's order: ``DOCKER_HOST`` (it selects the default context), else
``DOCKER_CONTEXT``, else ``currentContext`` in the CLI's config.json (the one
``docker context use`` writes; ``DOCKER_CONFIG`` moves that folder, default
``~/.docker``), else the default context. A named context's endpoint is read
from its metadata, ``<config>/contexts/meta/<sha256 of name>/meta.json``, and
its TLS material from ``<config>/contexts/tls/<sha256 of name>/docker/``. The
default context is ``DOCKER_HOST`` or the platform's default socket.

Used both by the SDK client (``client.connect``) and by the fast path of
``labs list`` (``quick``), so they always agree.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from orchestrator.errors import EngineUnavailable

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
DEFAULT_CONTEXT = "default"
CONTEXTS_DOC = "https://docs.docker.com/engine/manage-resources/contexts/"


@dataclass
class Endpoint:
    """The engine a context points at."""

    context: str  # the context's name ("default" when DOCKER_HOST or nothing selects one)
    host: str  # unix:///path, tcp://host:port, ssh://user@host, npipe://...
    source: str  # what chose it: DOCKER_HOST, DOCKER_CONTEXT, config.json, or default
    tls_verify: bool = False
    tls_dir: str | None = None  # holds ca.pem, cert.pem, key.pem when the context has TLS material
    skip_tls_verify: bool = False

    @property
    def scheme(self) -> str:
        return urlsplit(self.host).scheme or "unix"

    @property
    def remote(self) -> bool:
        """Does the engine publish ports on another machine (a tcp or ssh engine not on loopback)?"""
        if self.scheme not in ("tcp", "ssh", "http", "https"):
            return False
        return not _is_loopback(urlsplit(self.host).hostname or "")

    @property
    def publish_host(self) -> str:
        """Where a published port of this engine is reached: the engine's host for a remote
        engine, else 127.0.0.1."""
        return (urlsplit(self.host).hostname or "127.0.0.1") if self.remote else "127.0.0.1"

    def describe(self) -> str:
        return f"{self.host} (context {self.context!r}, chosen by {self.source})"


def _is_loopback(hostname: str) -> bool:
    if hostname in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def config_dir() -> Path:
    """The docker CLI's configuration folder (``DOCKER_CONFIG`` or ``~/.docker``)."""
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def context_id(name: str) -> str:
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def current_context_name() -> tuple[str, str]:
    """(context name, what chose it), in the docker CLI's order."""
    if os.environ.get("DOCKER_HOST"):
        return DEFAULT_CONTEXT, "DOCKER_HOST"
    if os.environ.get("DOCKER_CONTEXT"):
        return os.environ["DOCKER_CONTEXT"], "DOCKER_CONTEXT"
    config = config_dir() / "config.json"
    try:
        current = json.loads(config.read_text(encoding="utf-8")).get("currentContext")
    except FileNotFoundError:
        current = None
    except (OSError, ValueError, AttributeError) as err:
        raise EngineUnavailable(f"the docker CLI configuration {config} cannot be read: {err}", f"fix or remove {config}, or set DOCKER_HOST") from None
    if current:
        return str(current), "config.json"
    return DEFAULT_CONTEXT, "default"


def _default_endpoint(source: str) -> Endpoint:
    host = os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
    tls_verify = bool(os.environ.get("DOCKER_TLS_VERIFY"))
    cert_path = os.environ.get("DOCKER_CERT_PATH") or (str(config_dir()) if tls_verify else None)
    return Endpoint(DEFAULT_CONTEXT, host, source, tls_verify=tls_verify, tls_dir=cert_path)


def current_endpoint() -> Endpoint:
    """The engine the ``docker`` CLI would talk to right now, or ``EngineUnavailable`` saying
    which context is broken and how to choose another."""
    name, source = current_context_name()
    if name == DEFAULT_CONTEXT:
        return _default_endpoint(source)
    meta = config_dir() / "contexts" / "meta" / context_id(name) / "meta.json"
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
        docker_endpoint = data["Endpoints"]["docker"]
        host = docker_endpoint["Host"]
    except FileNotFoundError:
        raise EngineUnavailable(
            f"docker context {name!r} (chosen by {source}) does not exist: no {meta}",
            "list the contexts with `docker context ls` and choose one with `docker context use NAME` (or unset DOCKER_CONTEXT)",
        ) from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise EngineUnavailable(f"docker context {name!r} cannot be read from {meta}: {type(err).__name__}: {err}", f"recreate it (`docker context rm {name}`, `docker context create`); see {CONTEXTS_DOC}") from None
    tls_dir = config_dir() / "contexts" / "tls" / context_id(name) / "docker"
    has_tls = (tls_dir / "ca.pem").is_file() or (tls_dir / "cert.pem").is_file()
    return Endpoint(
        name,
        host,
        source,
        tls_verify=has_tls and not docker_endpoint.get("SkipTLSVerify", False),
        tls_dir=str(tls_dir) if has_tls else None,
        skip_tls_verify=bool(docker_endpoint.get("SkipTLSVerify", False)),
    )
