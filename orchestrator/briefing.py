"""A lab's briefing as it fits one instance: its real addresses and the commands that reach it.

A briefing is written once, for the default instance. When it is printed for
an instance, it is rendered:

- placeholders an author may use: ``${url:SERVICE:PORT}`` (``http://HOST:HOSTPORT/``),
  ``${port:SERVICE:PORT}`` (the host port), ``${address:SERVICE:PORT}``
  (``HOST:HOSTPORT``), where PORT is the container port; ``${labs:COMMAND}``
  (``labs COMMAND LAB`` plus the instance's ``--instance`` and ``--labs-dir``);
- and, for briefings written without them, the literal forms are rewritten:
  ``127.0.0.1:<lab.yaml host port>`` becomes the instance's address, and
  ``labs <command> <lab id>`` gains the instance's flags.

Nothing here touches the engine: the caller passes the host ports it knows.
"""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.spec import Lab

FOLLOW_UP_COMMANDS = ("shell", "check", "hint", "solve", "reset", "stop", "logs", "info", "start")
_PLACEHOLDER = re.compile(r"\$\{(url|port|address):([a-z0-9][a-z0-9_-]*):(\d+)\}|\$\{labs:([a-z]+)\}")


def command_flags(lab: Lab, instance: str = "default", labs_dir: Path | None = None) -> str:
    """The flags every follow-up command for this instance needs (with a leading space, or "")."""
    flags = "" if instance == "default" else f" --instance {instance}"
    if labs_dir is not None:
        flags += f" --labs-dir {labs_dir}"
    return flags


def render_briefing(
    lab: Lab,
    text: str,
    *,
    instance: str = "default",
    host_ports: dict[str, int] | None = None,
    host: str = "127.0.0.1",
    labs_dir: Path | None = None,
) -> str:
    """``text`` (a briefing or any message) rendered for one instance of ``lab``.

    ``host_ports`` maps ``"service:container_port"`` to the instance's host port; without it
    the lab.yaml ports are shown."""
    declared = {f"{name}:{p.container}": p.host for name, service in lab.services.items() for p in service.ports if p.host}
    ports = {**declared, **(host_ports or {})}
    flags = command_flags(lab, instance, labs_dir)

    def placeholder(match: re.Match) -> str:
        kind, service, container_port, command = match.groups()
        if command:
            return f"labs {command} {lab.id}{flags}"
        port = ports.get(f"{service}:{container_port}")
        if port is None:
            return match.group(0)  # lint reports unknown ones; printing them as written is honest
        return {"url": f"http://{host}:{port}/", "port": str(port), "address": f"{host}:{port}"}[kind]

    # First the literal forms written for the default instance, then the placeholders.
    by_declared = {declared_port: ports[key] for key, declared_port in declared.items()}
    if by_declared and (host != "127.0.0.1" or any(a != b for a, b in by_declared.items())):
        text = re.sub(
            r"(?:127\.0\.0\.1|localhost):(\d+)\b",
            lambda m: f"{host}:{by_declared[int(m.group(1))]}" if int(m.group(1)) in by_declared else m.group(0),
            text,
        )
    if flags:
        commands = "|".join(FOLLOW_UP_COMMANDS)
        text = re.sub(rf"\blabs ({commands}) {re.escape(lab.id)}\b(?![-\w])", lambda m: f"{m.group(0)}{flags}", text)
    return _PLACEHOLDER.sub(placeholder, text)
