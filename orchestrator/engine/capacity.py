"""How much memory the engine has left for more lab instances (admission control for classrooms).

The engine reports its total memory; what is already promised is the sum of
the memory limits of its running containers. When the engine is this machine
(a unix socket), the kernel's MemAvailable bounds it too. Figures in bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from orchestrator.engine.client import connect, engine_errors


@dataclass
class EngineMemory:
    total: int  # the engine's memory (docker info MemTotal)
    committed: int  # memory limits of its running containers, added up
    host_available: int | None  # MemAvailable when the engine runs on this machine

    @property
    def free(self) -> int:
        free = max(0, self.total - self.committed)
        return free if self.host_available is None else min(free, self.host_available)


def _host_available() -> int | None:
    host = os.environ.get("DOCKER_HOST", "unix://")
    if not host.startswith("unix://"):
        return None
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def engine_memory() -> EngineMemory:
    """The engine's total memory, what its running containers are promised, and what is free."""
    from docker.errors import NotFound

    client = connect()
    with engine_errors("reading the engine's memory"):
        total = int(client.info().get("MemTotal") or 0)
        committed = 0
        for container in client.api.containers(filters={"status": "running"}):
            try:
                inspected = client.api.inspect_container(container["Id"])
            except NotFound:
                continue  # removed while we were counting
            committed += int((inspected.get("HostConfig") or {}).get("Memory") or 0)
    return EngineMemory(total, committed, _host_available())
