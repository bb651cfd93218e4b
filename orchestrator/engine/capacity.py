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


def human_size(n: int) -> str:
    """Bytes as MiB or GiB, for messages."""
    gib = 1024**3
    return f"{n / gib:.1f} GiB" if n >= gib else f"{n / 1024**2:.0f} MiB"


def seat_memory(lab) -> int:
    """What one instance (a seat) of ``lab`` may use, and reserves on a swarm node: its services'
    memory limits, added up."""
    return sum(service.limits.memory_bytes for service in lab.services.values())


def seats_on_engine(lab, headroom: float) -> tuple[int, str]:
    """How many more instances of ``lab`` fit in this engine's free memory (never more than
    ``headroom`` of it), and where that figure comes from, in words."""
    memory = engine_memory()
    budget = int(memory.free * headroom)
    return (budget // max(1, seat_memory(lab))), (f"the engine has {human_size(memory.free)} free "
                                      f"({human_size(memory.committed)} of {human_size(memory.total)} promised to running containers)")
