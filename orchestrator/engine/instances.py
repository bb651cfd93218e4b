"""A running lab instance, as the engine knows it: found by labels, never by name.

One lab can run as several instances side by side (``--instance``): each has
its own network, containers and per-instance values. The default instance of a
lab has the shortest names (``labs-<lab>-<service>``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from orchestrator.engine import labels
from orchestrator.errors import NotFound, UsageError

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container
    from docker.models.networks import Network

DEFAULT_INSTANCE = "default"
INSTANCE_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,19}")


def check_instance_name(name: str) -> str:
    if not INSTANCE_PATTERN.fullmatch(name):
        raise UsageError(f"--instance {name!r}: use 1-20 lowercase letters, digits or dashes", "for example --instance alice or --instance ci-2")
    return name


def instance_key(lab_id: str, instance: str = DEFAULT_INSTANCE) -> str:
    return lab_id if instance == DEFAULT_INSTANCE else f"{lab_id}.{instance}"


def port_key(service: str, container_port: int) -> str:
    return f"{service}:{container_port}"


def resource_prefix(lab_id: str, instance: str = DEFAULT_INSTANCE) -> str:
    return f"labs-{lab_id}" if instance == DEFAULT_INSTANCE else f"labs-{lab_id}-{instance}"


@dataclass
class LabInstance:
    """What exists of one instance: its network, containers and values."""

    lab_id: str
    instance: str
    key: str
    services: list[str]  # the services the instance was started with
    main: str
    values: dict[str, str]
    folder: str
    host_ports: dict[str, int] = field(default_factory=dict)  # "service:port" -> host port, fixed at create time
    publish_host: str = "127.0.0.1"  # where published ports are reached (the engine's host for a remote engine)
    network: Network | None = None
    containers: dict[str, Container] = field(default_factory=dict)
    markers: list = field(default_factory=list)  # the completion-marker volume(s)
    volumes: list = field(default_factory=list)  # every labelled volume (claim, marker)
    already_running: bool = False  # set by start_lab when nothing had to be done
    warnings: list[str] = field(default_factory=list)  # what the learner should know (e.g. no egress guard)
    resumed: bool = False  # set by start_lab when stopped containers were started again
    unreachable: dict[str, str] = field(default_factory=dict)  # service -> why the node running it cannot be reached (swarm)

    @property
    def complete(self) -> bool:
        """The start finished (break applied); without this, what exists is an interrupted start."""
        return bool(self.markers)

    @property
    def missing(self) -> list[str]:
        return [s for s in self.services if s not in self.containers]

    @property
    def not_running(self) -> list[str]:
        return [s for s, c in self.containers.items() if c.status != "running"]

    @property
    def state(self) -> str:
        """running; incomplete (a start did not finish: being started, or interrupted);
        degraded (a service missing or stopped, or no network); or stopped."""
        if not self.containers and self.network is None and not self.volumes:
            return "stopped"
        if not self.complete:
            return "incomplete"
        if self.missing or self.not_running or self.network is None:
            return "degraded"
        return "running"

    def container(self, service: str | None = None) -> Container:
        service = service or self.main
        if service not in self.containers:
            known = ", ".join(sorted(self.containers)) or "none"
            raise NotFound(f"lab {self.key} has no running service {service!r} (services: {known})", f"run `labs status`; `labs reset {self.lab_id}` recreates missing services")
        return self.containers[service]

    def service_status(self, service: str | None = None) -> str:
        """The engine's state of a service's container: running, exited, created, ..."""
        return self.container(service).status

    def logs(self, service: str | None = None, *, tail: int | str = "all", since: float | None = None) -> bytes:
        """What a service's processes printed (the engine's log, not a file in the container)."""
        kwargs = {"tail": tail}
        if since is not None:
            kwargs["since"] = since
        return self.container(service).logs(**kwargs)

    def follow_logs(self, service: str | None = None, *, tail: int | str = 100):
        """A service's log as it grows (an endless iterator of byte chunks)."""
        return self.container(service).logs(stream=True, follow=True, tail=tail)

    def published_port(self, service: str, container_port: int) -> int | None:
        """The 127.0.0.1 port the engine bound for ``container_port`` now (it can change on restart)."""
        container = self.container(service)
        container.reload()
        bindings = (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).get(f"{container_port}/tcp") or []
        for binding in bindings:
            if binding.get("HostIp") in ("127.0.0.1", "0.0.0.0", "") and binding.get("HostPort"):
                return int(binding["HostPort"])
        if str((container.attrs.get("HostConfig") or {}).get("NetworkMode", "")).startswith("container:") and container.status == "running":
            # Swarm engine: the ports are published by the task whose namespace it shares.
            return self.host_ports.get(port_key(service, container_port))
        return None

    def host_port_map(self) -> dict[str, int]:
        """``"service:container_port"`` -> host port: the ports fixed at create time, or for an
        instance created before they were recorded, what the engine bound."""
        if self.host_ports:
            return dict(self.host_ports)
        found = {}
        for service, container in self.containers.items():
            for spec, bindings in (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).items():
                for binding in bindings or []:
                    if binding.get("HostPort"):
                        found[port_key(service, int(spec.split("/")[0]))] = int(binding["HostPort"])
        return found

    def ports(self) -> dict[str, list[str]]:
        """Published ports per service, as ``ADDRESS:HOST->CONTAINER`` (ADDRESS: where they are
        reached). The ports fixed at create time are shown even while a container is stopped."""
        shown: dict[str, list[str]] = {}
        for key, host_port in sorted(self.host_ports.items()):
            service, _, container_port = key.rpartition(":")
            shown.setdefault(service, []).append(f"{self.publish_host}:{host_port}->{container_port}")
        for service, container in self.containers.items():
            if service in shown:
                continue
            for spec, bindings in (container.attrs.get("NetworkSettings", {}).get("Ports") or {}).items():
                for binding in bindings or []:
                    shown.setdefault(service, []).append(f"{binding['HostIp']}:{binding['HostPort']}->{spec.split('/')[0]}")
        return shown

    def to_dict(self) -> dict:
        return {
            "lab": self.lab_id,
            "instance": self.instance,
            "key": self.key,
            "state": self.state,
            "services": {
                s: (self.containers[s].status if s in self.containers else f"unreachable: {self.unreachable[s]}" if s in self.unreachable else "missing")
                for s in self.services
            },
            "containers": {s: c.name for s, c in self.containers.items()},
            "ports": self.ports(),
            "folder": self.folder,
        }


def find_instances(client: docker.DockerClient, lab_id: str | None = None, key: str | None = None) -> list[LabInstance]:
    """Every instance with a labelled container or network, grouped by instance key."""
    selector = labels.filters(lab=lab_id, instance=key)
    networks = client.networks.list(filters=selector)
    containers = client.containers.list(all=True, filters=selector, ignore_removed=True)
    volumes = client.volumes.list(filters=selector)
    found: dict[str, LabInstance] = {}

    def entry(resource_labels: dict) -> LabInstance:
        return instance_entry(found, resource_labels)

    for network in networks:
        read_network(entry(network.attrs.get("Labels") or {}), network)
    for container in containers:
        if container.labels.get(labels.PROBE) == "true":
            continue  # a check's probe: removed when it ends (or with the instance)
        inst = entry(container.labels)
        service = container.labels.get(labels.SERVICE, container.name)
        inst.containers[service] = container
        if service not in inst.services:
            inst.services.append(service)
        if container.labels.get(labels.MAIN) == "true" and not inst.main:
            inst.main = service
    for volume in volumes:
        add_volume(entry(volume.attrs.get("Labels") or {}), volume)
    for inst in found.values():
        if not inst.main and inst.services:
            inst.main = inst.services[0]
    return sorted(found.values(), key=lambda i: i.key)


def instance_entry(found: dict[str, LabInstance], resource_labels: dict, publish_host: str = "127.0.0.1") -> LabInstance:
    """The instance a labelled resource belongs to, in ``found`` (added, empty, if new)."""
    ikey = resource_labels.get(labels.INSTANCE, "?")
    if ikey not in found:
        found[ikey] = LabInstance(
            lab_id=resource_labels.get(labels.LAB, "?"),
            instance=ikey.split(".", 1)[1] if "." in ikey else DEFAULT_INSTANCE,
            key=ikey,
            services=[],
            main="",
            values={},
            folder=resource_labels.get(labels.FOLDER, ""),
            publish_host=publish_host,
        )
    return found[ikey]


def read_network(inst: LabInstance, network) -> None:
    """What an instance's network carries: the services, main service, values and host ports."""
    net_labels = network.attrs.get("Labels") or {}
    inst.network = network
    inst.services = [s for s in net_labels.get(f"{labels.PREFIX}.services", "").split(",") if s]
    inst.main = net_labels.get(labels.MAIN, "")
    try:
        inst.values = json.loads(net_labels.get(labels.VALUES, "{}"))
    except ValueError:
        inst.values = {}
    try:
        inst.host_ports = {k: int(v) for k, v in json.loads(net_labels.get(labels.PORTS, "{}")).items()}
    except (ValueError, TypeError, AttributeError):
        inst.host_ports = {}


def add_volume(inst: LabInstance, resource) -> None:
    """A labelled claim or marker (a volume, or anything with ``attrs["Labels"]``) of the instance."""
    inst.volumes.append(resource)
    if (resource.attrs.get("Labels") or {}).get(labels.MARKER) == "complete":
        inst.markers.append(resource)


def only_instance(found: list[LabInstance], lab_id: str, instance: str) -> LabInstance:
    """The one instance found, or ``NotFound`` saying how to start it."""
    if not found:
        flag = "" if instance == DEFAULT_INSTANCE else f" --instance {instance}"
        raise NotFound(f"lab {instance_key(lab_id, instance)} is not running", f"start it with `labs start {lab_id}{flag}`")
    return found[0]


def get_instance(client: docker.DockerClient, lab_id: str, instance: str = DEFAULT_INSTANCE) -> LabInstance:
    """The instance, or ``NotFound`` saying how to start it."""
    return only_instance(find_instances(client, key=instance_key(lab_id, instance)), lab_id, instance)

