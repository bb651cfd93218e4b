"""Host ports: is a loopback port free, and if not, who holds it.

Used before a lab publishes a fixed port, so a conflict is reported as
"port 8080 is held by <who>" instead of an engine error after half a start.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now, chosen by the kernel from its ephemeral range."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _socket_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _process_holding(port: int) -> str | None:
    inodes = _socket_inodes(port)
    if not inodes:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    name = Path(f"/proc/{pid}/comm").read_text().strip()
                    return f"process {name} (pid {pid})"
        except OSError:
            continue
    return None


def holder(port: int, client: docker.DockerClient | None = None) -> str:
    """A description of what listens on ``port``: a container, a process, or "another program"."""
    if client is not None:
        try:
            for container in client.containers.list(ignore_removed=True):
                for bindings in (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).values():
                    if any(b.get("HostPort") == str(port) for b in bindings or []):
                        lab = container.labels.get("io.labs.instance")
                        owner = f" of lab {lab}" if lab else ""
                        return f"container {container.name}{owner}"
        except Exception:
            pass
    return _process_holding(port) or "another program"
