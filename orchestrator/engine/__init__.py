"""The engine boundary: the only package that talks to a container engine.

Everything that imports the Docker SDK lives here. At its surface it speaks in
lab terms — a ``LabInstance`` and its services, images by lab image name,
files read through the engine, commands run with a deadline — so the rest of
the core (spec, catalog, lifecycle, provision, checks, validate, the CLI and
web faces) never handles engine objects directly, and a second engine (a
Swarm cluster) is a sibling module here, not a rewrite.

Modules:
    client       connecting (contexts, DOCKER_HOST), engine errors, exec with a deadline
    labels       the io.labs.* labels every resource carries
    instances    LabInstance: finding, creating and removing an instance's resources
    images       image tags from build contexts, builds, the offline Debian base
    readiness    waiting for an instance's environment
    ports        free loopback ports and who holds one
    quick        a read-only query that needs no SDK import (labs list)
    pyinfra_connector  pyinfra's @docker connector over the SDK
    docker_engine  DockerEngine: what the lifecycle asks of a Docker engine, in lab terms
    swarm_engine   SwarmEngine: the same, as Swarm services reached through each task's node engine
    cluster      reaching a swarm node's own engine (TLS), membership and capacity
    terminal     exec sessions with a TTY (labs shell, the browser terminal)
"""

import os

ENGINES = ("docker", "swarm")


def open_engine(timeout: float = 120):
    """The engine labs drives, chosen in this one place (``LABS_ENGINE``: ``docker``, the default, or
    ``swarm``; the CLI's global ``--engine`` sets it)."""
    from orchestrator.errors import UsageError

    name = os.environ.get("LABS_ENGINE", "docker") or "docker"
    if name == "docker":
        from orchestrator.engine.docker_engine import DockerEngine

        return DockerEngine(timeout=timeout)
    if name == "swarm":
        from orchestrator.engine.swarm_engine import SwarmEngine

        return SwarmEngine(timeout=timeout)
    raise UsageError(f"LABS_ENGINE={name!r}: unknown engine (known: {', '.join(ENGINES)})", "unset LABS_ENGINE to use the Docker engine")
