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
"""
