"""An exec session in a service's container: a raw byte socket, resizable, with an exit code.

The CLI's ``labs shell`` pumps a local terminal through it; the web app's
browser terminal pumps a WebSocket through it. Neither touches the SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.engine.instances import LabInstance


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
