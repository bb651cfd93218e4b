"""The Docker engine, in lab terms: everything lifecycle, validate and doctor ask of it.

``DockerEngine`` wraps one SDK client. Its methods speak of labs, instances and
services — claim an instance, create its network and service containers, start
them, wait until the environment is ready, mark it complete, remove it by label
— so the lifecycle above reads as a list of steps and a second engine (a Swarm
cluster) is a sibling class with the same methods.
"""

from __future__ import annotations

import json
import os
import string
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from orchestrator.engine import labels
from orchestrator.engine.client import connect, engine_errors
from orchestrator.engine.ports import pick_free_port
from orchestrator.engine.instances import (
    DEFAULT_INSTANCE,
    port_key,
    LabInstance,
    find_instances,
    get_instance,
    instance_key,
    resource_prefix,
)
from orchestrator.errors import Conflict

if TYPE_CHECKING:
    from orchestrator.spec import Lab



def container_caps(cap_add: list[str]) -> list[str]:
    """What a lab container gets: DEFAULT_CAPS (enough for a Debian daemon to start as root and
    drop to its user) plus the service's ``cap_add``, which must be on the allow-list. Nothing
    else grants capabilities: an image label cannot."""
    from orchestrator.errors import SpecError
    from orchestrator.spec import ALLOWED_CAPS, DEFAULT_CAPS

    asked = [cap.removeprefix("CAP_") for cap in cap_add]
    refused = [cap for cap in asked if cap not in ALLOWED_CAPS]
    if refused:
        raise SpecError(f"capability {refused[0]} is not allowed", f"a lab may add only: {', '.join(sorted(ALLOWED_CAPS))}")
    return sorted(set(DEFAULT_CAPS) | set(asked))


class LostClaim(Conflict):
    """Another command owns the instance: back off without touching its resources."""


def _name_clash(key: str, resource: str, owner_labels: dict, lab_id: str) -> tuple[str, str]:
    """(message, fix) when a resource name ``key`` needs belongs to another lab instance: names
    are made of the lab id and the instance name, so lab `a` instance `b-c` and lab `a-b`
    instance `c` both need `labs-a-b-c`. Nothing will ever free it by waiting."""
    other = owner_labels.get(labels.INSTANCE) or "something labs did not create"
    return (
        f"lab {key} cannot be created: its {resource} is already taken by {other} (their names collide)",
        f"start this one under another instance name: `labs start {lab_id} --instance NAME`",
    )


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
        from orchestrator.engine.contexts import current_endpoint

        self.endpoint = current_endpoint()
        self.client = client or connect(timeout=timeout)

    @property
    def bind_address(self) -> str:
        """Where published ports listen: loopback for a local engine; for a remote (tcp/ssh) engine
        every address of the engine's host, since its loopback is not reachable from here."""
        return "0.0.0.0" if self.endpoint.remote else "127.0.0.1"

    def _placed(self, found: list[LabInstance]) -> list[LabInstance]:
        for inst in found:
            inst.publish_host = self.endpoint.publish_host
        return found

    # -- finding -------------------------------------------------------------------------
    def instances(self, lab_id: str | None = None, key: str | None = None) -> list[LabInstance]:
        return self._placed(find_instances(self.client, lab_id=lab_id, key=key))

    def instance(self, lab_id: str, instance: str = DEFAULT_INSTANCE) -> LabInstance:
        return self._placed([get_instance(self.client, lab_id, instance)])[0]

    def quick(self):
        """A context manager: engine calls inside must answer within a few seconds (lookups of
        read-only commands), so a hung engine is exit 4 at once, not a long wait."""
        from orchestrator.engine.client import quick_answers

        return quick_answers(self.client)

    def errors(self, action: str):
        """A context manager turning an engine failure during ``action`` into one clear error."""
        return engine_errors(action)

    # -- images and ports ----------------------------------------------------------------
    def save_images(self, refs: list[str], path, progress) -> None:
        from orchestrator.engine.images import save_images

        save_images(self.client, refs, path, progress)

    def load_images(self, path, progress) -> list[str]:
        from orchestrator.engine.images import load_images

        return load_images(self.client, path, progress)

    def present_images(self, refs: list[str]) -> list[str]:
        from orchestrator.engine.images import present_tags

        return present_tags(self.client, refs)

    def managed_image_tags(self) -> list[str]:
        from orchestrator.engine.images import managed_tags

        return managed_tags(self.client)

    def images_in_use(self) -> set[str]:
        from orchestrator.engine.images import images_in_use

        return images_in_use(self.client)

    def remove_image(self, tag: str) -> bool:
        from orchestrator.engine.images import remove_tag

        return remove_tag(self.client, tag)

    def ensure_images(self, names: list[str], progress, lab_folder=None) -> dict[str, str]:
        from orchestrator.engine.images import ensure_images

        return ensure_images(self.client, names, progress, lab_folder)

    def ensure_image(self, name: str, progress, lab_folder=None) -> str:
        from orchestrator.engine.images import ensure_image

        return ensure_image(self.client, name, progress, lab_folder)

    def port_holder(self, port: int) -> str | None:
        """None when 127.0.0.1:``port`` is free, else who holds it (a container, a process)."""
        from orchestrator.engine.ports import holder, is_free

        return None if is_free(port) else holder(port, self.client)

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
        claim_labels = claim.attrs.get("Labels") or {}
        owner = claim_labels.get(labels.SESSION)
        if owner != session:
            key = instance_key(lab.id, instance)
            if claim_labels.get(labels.INSTANCE) != key:
                raise LostClaim(*_name_clash(key, f"volume {claim.name}", claim_labels, lab.id))
            raise LostClaim(f"lab {key} is being started by another labs command ({owner})", "wait for it to finish, then `labs status`")

    def plan_ports(self, lab: Lab, instance: str) -> dict[str, int]:
        """The host port of every published port, chosen once for the instance's lifetime: the
        lab.yaml port for the default instance, a free one for a named instance. Stored on the
        network and bound explicitly, so restarts, resets and engine restarts keep them."""
        return {
            port_key(name, port.container): (port.host if instance == DEFAULT_INSTANCE and port.host else pick_free_port())
            for name, service in lab.services.items()
            for port in service.ports
        }

    def _network_options(self, lab: Lab) -> dict:
        """The driver and options of an instance's network: a bridge, fenced as ``network_options`` says."""
        return {"driver": "bridge", **network_options(lab)}

    def create_network(self, lab: Lab, instance: str, values: dict[str, str], session: str, host_ports: dict[str, int]):
        from docker.errors import APIError

        key = instance_key(lab.id, instance)
        name = resource_prefix(lab.id, instance)
        try:
            network = self.client.networks.create(
                name,
                check_duplicate=True,
                **self._network_options(lab),
                labels=self._labels(lab, instance, session, **{
                    labels.FOLDER: str(lab.folder),
                    labels.MAIN: lab.main_service,
                    labels.VALUES: json.dumps(values),
                    labels.PORTS: json.dumps(host_ports),
                    f"{labels.PREFIX}.services": ",".join(lab.services),
                }),
            )
        except APIError as err:
            if err.status_code == 409:
                owners = [n.attrs.get("Labels") or {} for n in self.client.networks.list(names=[name]) if n.name == name]
                if owners and owners[0].get(labels.INSTANCE) != key:
                    raise Conflict(*_name_clash(key, f"network {name}", owners[0], lab.id)) from None
                raise Conflict(f"lab {key} is being started by another command (its network already exists)", "wait for it, then `labs status`") from None
            raise
        return network

    def guard_network(self, network, lab: Lab) -> str | None:
        """Fence a lab network so nothing is forwarded beyond its bridge (unless the lab opts into
        egress). Returns a warning when this host cannot guarantee it, else None."""
        from orchestrator.engine import firewall

        if lab.egress:
            return None
        try:
            firewall.guard(network.attrs)
        except firewall.GuardUnavailable as err:
            if os.environ.get("LABS_REQUIRE_EGRESS_GUARD"):
                from orchestrator.errors import EngineUnavailable

                raise EngineUnavailable(f"cannot fence the lab network {network.name}: {err}", "run labs as root on the engine's host, or unset LABS_REQUIRE_EGRESS_GUARD; `labs doctor` says more") from None
            return f"no egress guard: {err}; `labs doctor` says more"
        return None

    def _service_container_options(self, lab: Lab, instance: str, service_name: str, values, session: str) -> dict:
        """What every lab service container is created with, whatever its network: command,
        name, labels, environment, limits, capabilities, no new privileges, tmpfs mounts."""
        service = lab.services[service_name]
        return dict(
            command=service.command,
            name=f"{resource_prefix(lab.id, instance)}-{service_name}",
            labels=self._labels(lab, instance, session, **{
                labels.SERVICE: service_name,
                labels.FOLDER: str(lab.folder),
                labels.MAIN: "true" if service_name == lab.main_service else "false",
            }),
            environment=render_env(service.env, values),
            mem_limit=service.limits.memory_bytes,
            memswap_limit=service.limits.memory_bytes,
            nano_cpus=int(service.limits.cpus * 1e9),
            pids_limit=service.limits.pids,
            cap_drop=["ALL"],
            cap_add=container_caps(service.cap_add),
            security_opt=["no-new-privileges"],
            privileged=False,
            # Fresh on every start, so a readiness marker never survives a restart.
            tmpfs={"/run/labs": "rw,size=1m,mode=755", **{m.path: f"rw,size={m.size_bytes},mode={m.mode}" for m in service.tmpfs}},
            detach=True,
        )

    def _create_container(self, lab: Lab, instance: str, service_name: str, tag: str, network, values, session: str, host_ports: dict[str, int]):
        service = lab.services[service_name]
        ports = {f"{port.container}/tcp": (self.bind_address, host_ports[port_key(service_name, port.container)]) for port in service.ports}
        return self.client.containers.create(
            tag,
            hostname=service_name,
            # By id: while a racing command's same-named network exists, the name is ambiguous.
            network=network.id,
            networking_config={network.id: self.client.api.create_endpoint_config(aliases=[service_name])},
            ports=ports,
            **self._service_container_options(lab, instance, service_name, values, session),
        )

    def create_services(self, lab: Lab, instance: str, tags: dict[str, str], network, values, session: str, host_ports: dict[str, int]) -> dict:
        """One container per service (created, not started, all at once); returns service -> container.
        A failure is raised after every create has returned, so a rollback sees all of them."""
        from docker.errors import APIError

        def create(name: str):
            try:
                return self._create_container(lab, instance, name, tags[lab.services[name].image], network, values, session, host_ports)
            except APIError as err:
                if err.status_code == 409:
                    key = instance_key(lab.id, instance)
                    name = f"{resource_prefix(lab.id, instance)}-{name}"
                    try:
                        owner = self.client.containers.get(name).labels or {}
                    except Exception:  # noqa: BLE001 - gone meanwhile: say what we know
                        owner = {}
                    if owner and owner.get(labels.INSTANCE) != key:
                        raise Conflict(*_name_clash(key, f"container {name}", owner, lab.id)) from None
                    raise Conflict(f"a container named for {key} already exists: {err.explanation}", "another command is starting this lab; wait for it, then `labs status`") from None
                raise

        with ThreadPoolExecutor(max_workers=max(1, len(lab.services))) as pool:
            futures = {name: pool.submit(create, name) for name in lab.services}
        return {name: future.result() for name, future in futures.items()}

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

    # -- the learner's files ----------------------------------------------------------------
    def save_path(self, inst: LabInstance, service: str, path: str) -> bytes | None:
        """A folder of a service as a tar archive (read by the engine), or None if it is absent."""
        from docker.errors import NotFound as DockerNotFound

        try:
            stream, _ = inst.container(service).get_archive(path)
        except DockerNotFound:
            return None
        return b"".join(stream)

    def restore_path(self, inst: LabInstance, service: str, path: str, archive: bytes | None) -> None:
        """Put back a folder saved by ``save_path`` (its parent must exist in the fresh container)."""
        import posixpath

        if archive:
            inst.container(service).put_archive(posixpath.dirname(path.rstrip("/")) or "/", archive)

    # -- removing ------------------------------------------------------------------------
    def remove_instance(self, key: str | None, lab_id: str | None = None, session: str | None = None) -> int:
        """Remove every labelled container, network and volume of an instance (or all of them, or
        only those of one command's ``session``); returns how many were removed."""
        from docker.errors import NotFound as DockerNotFound

        selector = labels.filters(instance=key, lab=lab_id)
        if session:
            selector["label"].append(f"{labels.SESSION}={session}")
        from orchestrator.engine import firewall

        removed = self.remove_resources(self.client.containers.list(all=True, filters=selector, ignore_removed=True))
        gone = []
        for network in self.client.networks.list(filters=selector):  # once its containers are gone
            try:
                network.remove()
                removed += 1
            except DockerNotFound:
                pass
            gone.append(network.id)
        if gone:
            firewall.release(gone)  # its egress rules, and any whose bridge vanished
        removed += self.remove_resources(self.client.volumes.list(filters=selector))
        if session is None and (key is not None or lab_id is None):  # images built from a learner's files, by label
            from orchestrator.engine.builds import remove_built

            removed += remove_built(self.client, key)
        return removed

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
        from orchestrator.engine.builds import built_leftovers

        return found + built_leftovers(self.client, key)

    # -- about the engine ----------------------------------------------------------------
    def egress_guard(self):
        """Can this host fence lab networks (``firewall.GuardStatus``)? The engine's bridges must
        be visible here (not in a VM or on another machine), and iptables usable."""
        from pathlib import Path

        from orchestrator.engine import firewall

        try:
            default = self.client.networks.get("bridge").attrs
            bridge = (default.get("Options") or {}).get("com.docker.network.bridge.name", "docker0")
        except Exception:  # noqa: BLE001 - no default bridge network: judge by iptables alone
            bridge = None
        if bridge and not Path("/sys/class/net", bridge).exists():
            return firewall.GuardStatus(False, f"the engine's bridge {bridge} is not on this machine (the engine runs in a VM or elsewhere), so labs cannot fence lab networks")
        return firewall.status()

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

    def seats_that_fit(self, lab: Lab, headroom: float) -> tuple[int, str]:
        """How many more instances of ``lab`` fit now (its services' memory limits against the
        engine's free memory), and where that comes from, in words (admission control)."""
        from orchestrator.engine.capacity import seats_on_engine

        return seats_on_engine(lab, headroom)

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
