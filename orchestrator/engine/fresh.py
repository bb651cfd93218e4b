"""Fresh copies of a lab service, made by a check: what a deploy is tried on.

A build lab may need to prove that the learner's work builds a service from nothing, not the
one they prepared by hand: the check starts a NEW container from the service's pristine image
(the one its container was created from), confined like the service itself (its capabilities,
limits and tmpfs), attached to the instance's network under a name of its own, with files the
check plants put in through the engine before it starts. It is labelled as a probe of the
instance (``io.labs.probe=true``), so status never counts it as a service, and it is removed
when the check is done, or with the instance by ``labs stop``.
"""

from __future__ import annotations

import contextlib
import io
import secrets
import tarfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

from orchestrator.engine import labels
from orchestrator.engine.probes import image_of, probe_labels
from orchestrator.errors import LabsError

if TYPE_CHECKING:
    from docker.models.containers import Container

    from orchestrator.engine.instances import LabInstance
    from orchestrator.spec import Readiness


def _planted(files: dict[str, tuple[bytes, int]]) -> bytes:
    """A tar archive of ``files`` (absolute path -> (content, mode)), owned by root, with the
    missing parent folders (mode 700 under /root, else 755)."""
    out = io.BytesIO()
    folders: set[str] = set()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for path, (content, mode) in sorted(files.items()):
            if not path.startswith("/") or ".." in path.split("/"):
                raise LabsError(f"cannot plant {path!r} in a fresh container: use an absolute path without '..'")
            parts = path.strip("/").split("/")
            for depth in range(1, len(parts)):
                folder = "/".join(parts[:depth])
                if folder not in folders:
                    folders.add(folder)
                    entry = tarfile.TarInfo(folder)
                    entry.type, entry.mode = tarfile.DIRTYPE, 0o700 if folder == "root" or folder.startswith("root/") else 0o755
                    tar.addfile(entry)
            entry = tarfile.TarInfo("/".join(parts))
            entry.size, entry.mode = len(content), mode
            tar.addfile(entry, io.BytesIO(content))
    return out.getvalue()


def create_fresh_copy(instance: LabInstance, model: Container, *, files: dict[str, tuple[bytes, int]] | None = None) -> Container:
    """Create (not start) a new container of ``model``'s original image, confined like it, on the
    instance's network under a unique name (also its hostname), with ``files`` planted."""
    if instance.network is None:
        raise LabsError(f"lab {instance.key} has no network to attach a fresh service to", f"start it again (`labs start {instance.lab_id}`)")
    host = model.attrs.get("HostConfig") or {}
    config = model.attrs.get("Config") or {}
    service = (model.labels or {}).get(labels.SERVICE, "service")
    name = f"{instance.key.replace('.', '-')}-{service}-fresh-{secrets.token_hex(3)}"
    container = model.client.containers.create(
        image_of(model),
        command=config.get("Cmd"),
        name=name,
        hostname=name,
        labels=probe_labels(instance),
        environment=config.get("Env") or [],
        network=instance.network.id,
        cap_drop=["ALL"],
        cap_add=host.get("CapAdd") or None,
        security_opt=host.get("SecurityOpt") or ["no-new-privileges"],
        privileged=False,
        mem_limit=host.get("Memory") or None,
        memswap_limit=host.get("MemorySwap") or None,
        nano_cpus=host.get("NanoCpus") or None,
        pids_limit=host.get("PidsLimit") or None,
        tmpfs=host.get("Tmpfs") or {"/run/labs": "rw,size=1m,mode=755"},
        detach=True,
    )
    try:
        if files:
            container.client.api.put_archive(container.id, "/", _planted(files))
    except BaseException:
        remove_fresh_copy(container)
        raise
    return container


def remove_fresh_copy(container: Container) -> None:
    from docker.errors import NotFound

    with contextlib.suppress(NotFound):
        container.remove(force=True, v=True)


@contextlib.contextmanager
def fresh_copy(instance: LabInstance, model: Container, readiness: Readiness, *, files: dict[str, tuple[bytes, int]] | None = None) -> Iterator[Container]:
    """A started, ready fresh copy of ``model`` (see ``create_fresh_copy``), removed on exit."""
    from orchestrator.engine.readiness import wait_ready

    container = create_fresh_copy(instance, model, files=files)
    try:
        container.start()
        wait_ready(container, readiness, container.name)
        yield container
    finally:
        remove_fresh_copy(container)
