"""A tiny read-only engine query that needs no Docker SDK import.

``labs list`` shows which labs run and must answer at once; importing the SDK
alone costs more than the whole command should. This asks the engine's API
directly over its Unix socket (or plain TCP), chosen exactly as the docker CLI
and the SDK client choose it (``engine.contexts``), for the labelled containers, and
answers ``None`` when the engine cannot be asked, instead of failing.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import quote, urlsplit

from orchestrator.engine import labels


def _socket(timeout: float) -> socket.socket | None:
    """A plain connection to the engine the docker CLI would use, when one is possible without the SDK."""
    from orchestrator.engine.contexts import current_endpoint
    from orchestrator.errors import LabsError

    try:
        endpoint = current_endpoint()
    except LabsError:
        return None
    url = urlsplit(endpoint.host)
    if url.scheme == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(url.path)
        return sock
    if url.scheme in ("tcp", "http") and not endpoint.tls_verify and not endpoint.tls_dir:
        return socket.create_connection((url.hostname, url.port or 2375), timeout=timeout)
    return None  # TLS, ssh or named-pipe engines: leave it to the SDK


def _get(path: str, timeout: float) -> bytes | None:
    """One HTTP/1.0 GET (the engine closes the connection after it: no chunking, no keep-alive);
    http.client alone would cost more to import than this whole query."""
    try:
        sock = _socket(timeout)
    except OSError:
        return None
    if sock is None:
        return None
    try:
        sock.sendall(f"GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        sock.close()
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or status[1] != b"200":
        return None
    return body


def running_instance_keys(timeout: float = 0.5) -> set[str] | None:
    """Instance keys with a running labelled container, or None if the engine cannot be asked."""
    filters = quote(json.dumps({"label": [f"{labels.MANAGED}=true"], "status": ["running"]}))
    body = _get(f"/containers/json?filters={filters}", timeout)
    if body is None:
        return None
    try:
        containers = json.loads(body)
    except ValueError:
        return None
    return {c.get("Labels", {}).get(labels.INSTANCE, "") for c in containers}
