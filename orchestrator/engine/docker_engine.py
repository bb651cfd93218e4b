"""The Docker engine, in lab terms: everything lifecycle, validate and doctor ask of it.

``DockerEngine`` wraps one SDK client. Its methods speak of labs, instances and
services — claim an instance, create its network and service containers, start
them, wait until the environment is ready, mark it complete, remove it by label
— so the lifecycle above reads as a list of steps and a second engine (a Swarm
cluster) is a sibling class with the same methods.
"""

from __future__ import annotations

import json
import string
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from orchestrator.engine import labels
from orchestrator.engine.client import connect, engine_errors
from orchestrator.engine.instances import (
    DEFAULT_INSTANCE,
    LabInstance,
    find_instances,
    get_instance,
    instance_key,
    resource_prefix,
)
from orchestrator.errors import Conflict

if TYPE_CHECKING:
    from orchestrator.spec import Lab

# Capabilities every lab container keeps: enough for a Debian daemon to start as root and drop
# to its user, and for a learner to install a package. A lab adds to them per service (cap_add).
DEFAULT_CAPS = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL", "NET_BIND_SERVICE"]
IMAGE_CAPS_LABEL = f"{labels.PREFIX}.caps"


class LostClaim(Conflict):
    """Another command owns the instance: back off without touching its resources."""


def render_env(env: dict[str, str], values: dict[str, str]) -> dict[str, str]:
    return {name: string.Template(text).safe_substitute(values) for name, text in env.items()}


def network_options(lab: Lab) -> dict:
    """No egress unless the lab asks: without published ports the network is internal; with
    them, the bridge does no masquerading, so replies from outside never come back."""
    if lab.egress:
        return {}
    if not any(service.ports for service in lab.services.values()):
        return {"internal": True}
    return {"options": {"com.docker.network.bridge.enable_ip_masquerade": "false"}}


class DockerEngine:
    """One connection to a Docker engine, and what labs does with it."""

    name = "docker"

    def __init__(self, client=None, timeout: float = 120):
        self.client = client or connect(timeout=timeout)

    # -- finding -------------------------------------------------------------------------
    def instances(self, lab_id: str | None = None, key: str | None = None) -> list[LabInstance]:
        return find_instances(self.client, lab_id=lab_id, key=key)

    def instance(self, lab_id: str, instance: str = DEFAULT_INSTANCE) -> LabInstance:
        return get_instance(self.client, lab_id, instance)

    def errors(self, action: str):
        """A context manager turning an engine failure during ``action`` into one clear error."""
        return engine_errors(action)

    # -- images and ports ----------------------------------------------------------------
    def ensure_images(self, names: list[str], progress, lab_folder=None) -> dict[str, str]:
        from orchestrator.engine.images import ensure_images

        return ensure_images(self.client, names, progress, lab_folder)

    def ensure_image(self, name: str, progress, lab_folder=None) -> str:
        from orchestrator.engine.images import ensure_image

        return ensure_image(self.client, name, progress, lab_folder)

    def check_ports(self, lab: Lab, instance: str) -> None:
        """Fixed host ports of the default instance must be free (named instances get free ones)."""
        from orchestrator.engine.ports import holder, is_free

        if instance != DEFAULT_INSTANCE:
            return
        for service_name, service in lab.services.items():
            for port in service.ports:
                if port.host is not None and not is_free(port.host):
                    raise Conflict(
                        f"port 127.0.0.1:{port.host} (service {service_name} of {lab.id}) is already in use by {holder(port.host, self.client)}",
                        f"stop that, or run another instance on free ports: `labs start {lab.id} --instance NAME`",
                    )

    # -- creating ------------------------------------------------------------------------
    def _labels(self, lab: Lab, instance: str, session: str, **extra: str) -> dict[str, str]:
        return {**labels.managed(), labels.SESSION: session, labels.LAB: lab.id, labels.INSTANCE: instance_key(lab.id, instance), **extra}

    def claim(self, lab: Lab, instance: str, session: str) -> None:
        """Claim the instance in the engine itself before creating anything: creating a volume is
        atomic, and creating an existing one returns it with its first creator's labels. So of
        two commands starting the same instance at once (even from different users), one wins."""
        claim = self.client.volumes.create(
            name=f"{resource_prefix(lab.id, instance)}-claim",
            labels=self._labels(lab, instance, session, **{labels.MARKER: "claim"}),
        )
        owner = (claim.attrs.get("Labels") or {}).get(labels.SESSION)
        if owner != session:
            raise LostClaim(f"lab {instance_key(lab.id, instance)} is being started by another labs command ({owner})", "wait for it to finish, then `labs status`")

    def create_network(self, lab: Lab, instance: str, values: dict[str, str], session: str):
        from docker.errors import APIError

        key = instance_key(lab.id, instance)
        try:
            return self.client.networks.create(
                resource_prefix(lab.id, instance),
                driver="bridge",
                check_duplicate=True,
                **network_options(lab),
                labels=self._labels(lab, instance, session, **{
                    labels.FOLDER: str(lab.folder),
                    labels.MAIN: lab.main_service,
                    labels.VALUES: json.dumps(values),
                    f"{labels.PREFIX}.services": ",".join(lab.services),
                }),
            )
        except APIError as err:
            if err.status_code == 409:
                raise Conflict(f"lab {key} is being started by another command (its network already exists)", "wait for it, then `labs status`") from None
            raise

    def _create_container(self, lab: Lab, instance: str, service_name: str, tag: str, network, values, session: str):
        service = lab.services[service_name]
        image_caps = (self.client.images.get(tag).labels or {}).get(IMAGE_CAPS_LABEL)
        caps = sorted(set((image_caps.split() if image_caps else DEFAULT_CAPS) + list(service.cap_add)))
        ports = {}
        for port in service.ports:
            host_port = port.host if instance == DEFAULT_INSTANCE else None
            ports[f"{port.container}/tcp"] = ("127.0.0.1", host_port) if host_port else ("127.0.0.1",)
        return self.client.containers.create(
            tag,
            command=service.command,
            name=f"{resource_prefix(lab.id, instance)}-{service_name}",
            hostname=service_name,
            labels=self._labels(lab, instance, session, **{
                labels.SERVICE: service_name,
                labels.FOLDER: str(lab.folder),
                labels.MAIN: "true" if service_name == lab.main_service else "false",
            }),
            environment=render_env(service.env, values),
            # By id: while a racing command's same-named network exists, the name is ambiguous.
            network=network.id,
            networking_config={network.id: self.client.api.create_endpoint_config(aliases=[service_name])},
            ports=ports,
            mem_limit=service.limits.memory_bytes,
            memswap_limit=service.limits.memory_bytes,
            nano_cpus=int(service.limits.cpus * 1e9),
            pids_limit=service.limits.pids,
            cap_drop=["ALL"],
            cap_add=caps,
            security_opt=["no-new-privileges"],
            privileged=False,
            # Fresh on every start, so a readiness marker never survives a restart.
            tmpfs={"/run/labs": "rw,size=1m,mode=755"},
            detach=True,
        )

    def create_services(self, lab: Lab, instance: str, tags: dict[str, str], network, values, session: str) -> dict:
        """One container per service (created, not started); returns service -> container."""
        from docker.errors import APIError

        created = {}
        for name, service in lab.services.items():
            try:
                created[name] = self._create_container(lab, instance, name, tags[service.image], network, values, session)
            except APIError as err:
                if err.status_code == 409:
                    raise Conflict(f"a container named for {instance_key(lab.id, instance)} already exists: {err.explanation}", "another command is starting this lab; wait for it, then `labs status`") from None
                raise
        return created

    def start(self, containers: list) -> None:
        """Start containers in parallel; a port taken meanwhile is a conflict, not an engine error."""
        from docker.errors import APIError

        def start(container):
            try:
                container.start()
            except APIError as err:
                text = str(err.explanation or err)
                if "port is already allocated" in text or "address already in use" in text:
                    raise Conflict(f"starting {container.name}: {text}", "free that port or use `labs start LAB --instance NAME`") from None
                raise

        if not containers:
            return
        with ThreadPoolExecutor(max_workers=len(containers)) as pool:
            for future in [pool.submit(start, c) for c in containers]:
                future.result()

    def stopped_containers(self, inst: LabInstance) -> list:
        return [c for c in inst.containers.values() if c.status != "running"]

    def wait_ready(self, lab: Lab, containers: dict) -> None:
        """Wait until every service's environment is up (never the service the learner fixes)."""
        from orchestrator.engine.readiness import wait_all_ready

        wait_all_ready([(s, c, lab.services[s].readiness) for s, c in containers.items() if s in lab.services])

    def mark_complete(self, lab: Lab, instance: str, session: str):
        """Record that the instance is fully started (break applied): a small labelled volume."""
        return self.client.volumes.create(
            name=f"{resource_prefix(lab.id, instance)}-complete",
            labels=self._labels(lab, instance, session, **{labels.MARKER: "complete"}),
        )

    # -- removing ------------------------------------------------------------------------
    def remove_instance(self, key: str | None, lab_id: str | None = None, session: str | None = None) -> int:
        """Remove every labelled container, network and volume of an instance (or all of them, or
        only those of one command's ``session``); returns how many were removed."""
        from docker.errors import NotFound as DockerNotFound

        selector = labels.filters(instance=key, lab=lab_id)
        if session:
            selector["label"].append(f"{labels.SESSION}={session}")
        removed = self.remove_resources(self.client.containers.list(all=True, filters=selector, ignore_removed=True))
        for network in self.client.networks.list(filters=selector):  # once its containers are gone
            try:
                network.remove()
                removed += 1
            except DockerNotFound:
                pass
        return removed + self.remove_resources(self.client.volumes.list(filters=selector))

    def remove_services(self, inst: LabInstance) -> int:
        """Remove an instance's containers and completion marker, keeping its network and values."""
        return self.remove_resources(list(inst.containers.values()) + inst.markers)

    @staticmethod
    def remove_resources(resources: list) -> int:
        """Remove containers (with their anonymous volumes) and volumes in parallel; returns how
        many were removed (one already gone is not an error)."""
        from docker.errors import NotFound as DockerNotFound

        def remove(resource) -> int:
            try:
                if hasattr(resource, "status"):
                    resource.remove(force=True, v=True)
                else:
                    resource.remove(force=True)
            except DockerNotFound:
                return 0
            return 1

        if not resources:
            return 0
        with ThreadPoolExecutor(max_workers=min(8, len(resources))) as pool:
            return sum(pool.map(remove, resources))

    def leftovers(self, key: str) -> list[str]:
        """Every container, network and volume still labelled with instance ``key``."""
        selector = {"label": [f"{labels.INSTANCE}={key}"]}
        found = [f"container {c.name}" for c in self.client.containers.list(all=True, filters=selector, ignore_removed=True)]
        found += [f"network {n.name}" for n in self.client.networks.list(filters=selector)]
        found += [f"volume {v.name}" for v in self.client.volumes.list(filters=selector)]
        return found

    # -- about the engine ----------------------------------------------------------------
    def describe(self) -> dict:
        """Version, API version and storage root, for `labs doctor`."""
        version = self.client.version()
        info = self.client.info()
        return {
            "version": version.get("Version"),
            "api_version": version.get("ApiVersion"),
            "root": info.get("DockerRootDir", "/var/lib/docker"),
            "memory_bytes": info.get("MemTotal"),
        }

    def has_image(self, reference: str) -> bool:
        return bool(self.client.images.list(name=reference))


def instance_sessions(inst: LabInstance) -> set[str]:
    """The command runs (session labels) that created an instance's resources."""
    resources = list(inst.containers.values()) + ([inst.network] if inst.network is not None else []) + inst.volumes
    found = set()
    for resource in resources:
        resource_labels = getattr(resource, "labels", None) or resource.attrs.get("Labels") or {}
        if labels.SESSION in resource_labels:
            found.add(resource_labels[labels.SESSION])
    return found
