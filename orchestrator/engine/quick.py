"""A tiny read-only engine query that needs no Docker SDK import.

``labs list`` shows which labs run and must answer at once; importing the SDK
alone costs more than the whole command should. This asks the engine's API
directly over its Unix socket (or plain TCP), chosen exactly as the docker CLI
and the SDK client choose it (``engine.contexts``), for the labelled containers, and
answers ``None`` when the engine cannot be asked, instead of failing.
"""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import quote, urlsplit

from orchestrator.engine import labels


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _connection(timeout: float) -> http.client.HTTPConnection | None:
    """A plain connection to the engine the docker CLI would use, when one is possible without the SDK."""
    from orchestrator.engine.contexts import current_endpoint
    from orchestrator.errors import LabsError

    try:
        endpoint = current_endpoint()
    except LabsError:
        return None
    url = urlsplit(endpoint.host)
    if url.scheme == "unix":
        return _UnixConnection(url.path, timeout)
    if url.scheme in ("tcp", "http") and not endpoint.tls_verify and not endpoint.tls_dir:
        return http.client.HTTPConnection(url.hostname, url.port or 2375, timeout=timeout)
    return None  # TLS, ssh or named-pipe engines: leave it to the SDK


def running_instance_keys(timeout: float = 0.5) -> set[str] | None:
    """Instance keys with a running labelled container, or None if the engine cannot be asked."""
    conn = _connection(timeout)
    if conn is None:
        return None
    filters = quote(json.dumps({"label": [f"{labels.MANAGED}=true"], "status": ["running"]}))
    try:
        conn.request("GET", f"/containers/json?filters={filters}")
        response = conn.getresponse()
        if response.status != 200:
            return None
        containers = json.loads(response.read())
    except (OSError, ValueError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    return {c.get("Labels", {}).get(labels.INSTANCE, "") for c in containers}
