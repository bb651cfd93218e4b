"""An exec session in a service's container: a raw byte socket, resizable, with an exit code.

The CLI's ``labs shell`` pumps a local terminal through it; the web app's
browser terminal pumps a WebSocket through it. Neither touches the SDK.

On a swarm, a service on another node is reached through that node's engine over TLS: the
socket is then an ``ssl.SSLSocket``. One TLS connection must not be read and written by two
threads at once (the browser terminal reads in a thread while keystrokes are written from
another), and bytes already decrypted are invisible to ``select()``: ``read`` and ``write``
take care of both.
"""

from __future__ import annotations

import select
import socket
import ssl
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.engine.instances import LabInstance

TLS_POLL = 0.05  # seconds a TLS read may hold the connection once the descriptor was readable
TLS_SEND_TIMEOUT = 30  # seconds a write may wait for a node engine that reads nothing


class ExecSession:
    """A command started in a container, attached through one socket (TTY or multiplexed)."""

    def __init__(self, container, argv: list[str], *, tty: bool, environment: dict | None = None, user: str | None = None):
        self._api = container.client.api
        self.tty = tty
        kwargs = {"stdin": True, "tty": tty, "environment": environment or {}}
        if user:
            kwargs["user"] = user
        self.exec_id = self._api.exec_create(container.id, argv, **kwargs)["Id"]
        raw = self._api.exec_start(self.exec_id, socket=True, tty=tty)
        self.socket = getattr(raw, "_sock", raw)  # the plain socket, for select() and sendall()
        self.tls = isinstance(self.socket, ssl.SSLSocket)
        self._io = threading.Lock()  # one TLS operation at a time on the connection

    def read(self, size: int = 65536) -> bytes:
        """The next bytes of output (b"" once the command ended)."""
        if not self.tls:
            return self.socket.recv(size)
        while True:
            if self.socket.fileno() < 0:
                return b""  # closed here (the session was closed)
            if not self.socket.pending():
                try:
                    select.select([self.socket], [], [])  # on the descriptor, outside the lock: writes go on meanwhile
                except (OSError, ValueError):
                    return b""  # closed while waiting
            with self._io:
                self.socket.settimeout(TLS_POLL)
                try:
                    return self.socket.recv(size)
                except (socket.timeout, ssl.SSLWantReadError):
                    continue  # only part of a TLS record had arrived, or none of application data

    def write(self, data: bytes) -> None:
        """Send keystrokes (or input) to the command."""
        if not self.tls:
            self.socket.sendall(data)
            return
        with self._io:
            self.socket.settimeout(TLS_SEND_TIMEOUT)
            self.socket.sendall(data)

    def resize(self, rows: int, columns: int) -> None:
        try:
            self._api.exec_resize(self.exec_id, height=max(1, rows), width=max(1, columns))
        except Exception:
            pass  # the command may have ended; a resize is never worth an error

    def exit_code(self) -> int | None:
        """The command's exit code once it ended, else None."""
        info = self._api.exec_inspect(self.exec_id)
        return None if info.get("Running") else info.get("ExitCode")

    def close(self) -> None:
        try:
            self.socket.close()
        except OSError:
            pass


def open_session(instance: LabInstance, service: str | None, argv: list[str], *, tty: bool, environment: dict | None = None) -> ExecSession:
    """Start ``argv`` in a service of ``instance`` (the main one by default), attached."""
    return ExecSession(instance.container(service), argv, tty=tty, environment=environment)
