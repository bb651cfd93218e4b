"""The labels that mark every Docker resource labs creates.

Resources are only ever found by these labels, never by name, so ``status``
and ``stop`` work even when the lab folder changed or vanished, and nothing
the tool did not create is ever touched.
"""

from __future__ import annotations

from orchestrator import __version__

PREFIX = "io.labs"
MANAGED = f"{PREFIX}.managed"  # "true" on everything labs creates
LAB = f"{PREFIX}.lab"  # the lab id
INSTANCE = f"{PREFIX}.instance"  # the instance key: unique per running lab instance
SERVICE = f"{PREFIX}.service"  # the service name (containers only)
MAIN = f"{PREFIX}.main"  # "true" on the lab's main service
VERSION = f"{PREFIX}.version"  # the labs version that created it
FOLDER = f"{PREFIX}.folder"  # where the lab was loaded from (informational)
VALUES = f"{PREFIX}.values"  # per-instance random values, JSON (network only)
PORTS = f"{PREFIX}.ports"  # host ports chosen at create time, JSON {"service:port": host} (network only)
CONTEXT = f"{PREFIX}.context"  # an image's build-context hash (images only)
SESSION = f"{PREFIX}.session"  # the command run that created it (rollback removes only its own)
PROBE = f"{PREFIX}.probe"  # "true" on a check's short-lived probe container (never a service)
MARKER = f"{PREFIX}.marker"  # "complete" on the volume that marks a fully started instance
ANCHOR = f"{PREFIX}.anchor"  # swarm engine: the service whose task holds a lab service's network namespace


def managed() -> dict[str, str]:
    return {MANAGED: "true", VERSION: __version__}


def filters(**labels: str) -> dict:
    """Docker ``filters`` selecting labs resources with the given label values."""
    wanted = [f"{MANAGED}=true"]
    names = {"lab": LAB, "instance": INSTANCE, "service": SERVICE}
    wanted += [f"{names[key]}={value}" for key, value in labels.items() if value is not None]
    return {"label": wanted}
