"""HTTP probes from outside the lab, as a client would make them.

Requests go only to where the engine publishes a lab's ports: 127.0.0.1, or
for a remote (tcp/ssh) engine that engine's host, or on the Swarm engine the address a node of
the swarm advertises, never any other address. Errors never raise:
the result says what was seen (status, body, or the connection error), so a
check can put it in its verdict.
"""

from __future__ import annotations

import http.client
import socket
import time
from dataclasses import dataclass, field


def _engine_publish_host() -> str:
    from orchestrator.engine.contexts import current_endpoint

    return current_endpoint().publish_host


def _swarm_node_addresses() -> frozenset[str]:
    """On the Swarm engine, a lab's ports are published on the node that runs it."""
    from orchestrator.engine.cluster import swarm_node_addresses

    return swarm_node_addresses()


@dataclass
class HttpResult:
    status: int | None  # None when no HTTP answer came back
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    raw: bytes = b""  # the body as received (binary answers: archives, images)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        """What the probe saw, in a few words, for a failure message."""
        if self.status is None:
            return f"no HTTP answer ({self.error})"
        snippet = " ".join(self.body.split())[:120]
        return f"HTTP {self.status}" + (f" with body {snippet!r}" if snippet else " with an empty body")


def http_get(port: int, path: str = "/", *, headers: dict[str, str] | None = None, timeout: float = 5.0, host: str = "127.0.0.1") -> HttpResult:
    return http_request(port, path, headers=headers, timeout=timeout, host=host)


def http_request(
    port: int,
    path: str = "/",
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | str | None = None,
    timeout: float = 5.0,
    host: str = "127.0.0.1",
) -> HttpResult:
    """One HTTP request to a published port (loopback, or a remote engine's host); never raises
    for what the server does."""
    if host not in ("127.0.0.1", "localhost", "::1") and host != _engine_publish_host() and host not in _swarm_node_addresses():
        raise ValueError(f"lab probes only go to the loopback address or the engine's host (or a node of its swarm), not {host}")
    started = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=headers or {})
        response = conn.getresponse()
        raw = response.read(1_000_000)
        received = {k.lower(): v for k, v in response.getheaders()}
        return HttpResult(response.status, raw.decode("utf-8", "replace"), received, None, time.perf_counter() - started, raw)
    except (OSError, http.client.HTTPException, socket.timeout) as err:
        reason = str(err) or type(err).__name__
        return HttpResult(None, error=reason, seconds=time.perf_counter() - started)
    finally:
        conn.close()
