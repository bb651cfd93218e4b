"""The Swarm engine: a lab instance placed by Swarm, its containers reached through each node's engine.

``SwarmEngine`` speaks to a swarm manager and offers the lifecycle the same steps as
``DockerEngine``. A lab instance becomes:

- one attachable overlay network of its own (``internal`` when the lab has no egress and
  publishes no ports: no gateway at all), carrying the instance's values and ports like the
  local engine's bridge;
- per lab service, an **anchor** Swarm service (replicas 1, restart condition ``none``,
  ``dnsrr`` endpoint: no IPVS here, host-mode published ports, a constraint when
  ``LABS_SWARM_NODE`` pins a node): Swarm places the main service's anchor, which reserves the
  whole seat's memory, and the other anchors follow it to its node (a seat never straddles
  nodes); each anchor's task — ``sleep infinity`` from the service's own image, no
  capabilities — owns the network namespace: the overlay address, the service's name in the
  overlay's DNS, the ports;
- per lab service, the lab's container, created through the engine of the anchor's node in the
  anchor's network namespace, hardened exactly like a local one (limits, capabilities, no new
  privileges, tmpfs) and labelled like one;
- Swarm configs as the claim and the completion marker (creating a config is atomic across the
  cluster; volumes are node-local).

Why anchors: the engine registers a task container's names in the overlay's DNS only when
Swarm starts the task. A lab container restarted through its node's engine (what checks do to
prove persistence) would keep its files but lose its name for good, and a restart through Swarm
(``service update --force``) would replace it with a fresh container and lose the learner's work.
With the name held by the anchor, the lab container restarts like a local one and keeps both.

The ``LabInstance`` holds the lab containers as found through their nodes' engines (each
container's ``.client`` is its node's), so exec, archives, logs, restarts, pyinfra, terminals and
the trusted probes work unchanged.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from orchestrator.engine import labels
from orchestrator.engine.capacity import seat_memory
from orchestrator.engine.docker_engine import DockerEngine, LostClaim, _name_clash
from orchestrator.engine.instances import DEFAULT_INSTANCE, LabInstance, add_volume, instance_entry, instance_key, only_instance, port_key, read_network, resource_prefix
from orchestrator.errors import Conflict, EngineUnavailable, Timeout

if TYPE_CHECKING:
    from orchestrator.spec import Lab

TASK_START_TIMEOUT = float(os.environ.get("LABS_SWARM_TASK_TIMEOUT", "120"))  # seconds a task may take to run
_POLL = 0.25
_FAILED_TASK = ("failed", "rejected", "orphaned", "shutdown", "complete")


def _config_labels(config) -> dict:
    return ((config.attrs.get("Spec") or {}).get("Labels")) or {}


def _remove_quietly(resources: list) -> int:
    """``DockerEngine.remove_resources``, where Swarm removing the same container meanwhile
    (409: removal already in progress) is not an error."""
    from docker.errors import APIError

    def one(resource) -> int:
        try:
            return DockerEngine.remove_resources([resource])
        except APIError as err:
            if err.status_code == 409:
                return 0
            raise

    return sum(one(resource) for resource in resources)


class SwarmEngine(DockerEngine):
    """A swarm manager, and what labs does with the cluster behind it."""

    name = "swarm"

    def __init__(self, client=None, timeout: float = 120):
        super().__init__(client, timeout)
        info = self.client.info().get("Swarm") or {}
        if info.get("LocalNodeState") != "active" or not info.get("ControlAvailable"):
            raise EngineUnavailable(
                f"LABS_ENGINE=swarm, but the engine at {self.endpoint.describe()} is not a swarm manager (swarm state: {info.get('LocalNodeState') or 'unknown'})",
                "run `docker swarm init` (or point DOCKER_HOST at a manager), or use the local engine: unset LABS_ENGINE",
            )
        self.node_id = info.get("NodeID", "")
        self._node_clients: dict[str, object] = {self.node_id: self.client}
        self._lost_nodes: dict[str, EngineUnavailable] = {}  # node id -> why its engine did not answer (asked once per command)

    @property
    def bind_address(self) -> str:
        return "0.0.0.0"  # host-mode ports: Swarm has no host address to bind to

    # -- nodes ---------------------------------------------------------------------------
    def node_client(self, node_id: str):
        """The engine of swarm node ``node_id`` (the manager's own client for its own node). A
        node that did not answer is not asked again by the same command."""
        if node_id in self._lost_nodes:
            raise self._lost_nodes[node_id]
        if node_id not in self._node_clients:
            from orchestrator.engine.cluster import node_engine

            try:
                self._node_clients[node_id] = node_engine(self.client, node_id)
            except EngineUnavailable as err:
                self._lost_nodes[node_id] = err
                raise
        return self._node_clients[node_id]

    def node_clients(self) -> dict:
        """node id -> engine, for every node that answers (one that does not is skipped: its
        services show as missing, never waited on)."""
        found = {}
        for node in self.client.nodes.list():
            try:
                found[node.id] = self.node_client(node.id)
            except EngineUnavailable:
                continue
        return found

    def _publish_host(self, node_id: str) -> str:
        if node_id == self.node_id:
            return self.endpoint.publish_host
        try:
            return (self.client.api.inspect_node(node_id).get("Status") or {}).get("Addr") or self.endpoint.publish_host
        except Exception:  # noqa: BLE001 - the address is informative; the default is the manager's
            return self.endpoint.publish_host

    # -- finding -------------------------------------------------------------------------
    def _task_container(self, service):
        """(container, node id) of the newest task of ``service`` that has a container, or (None, None)."""
        from docker.errors import NotFound as DockerNotFound

        tasks = self.client.api.tasks(filters={"service": service.id})
        tasks.sort(key=lambda t: (t.get("Version") or {}).get("Index", 0), reverse=True)
        for task in tasks:
            container_id = ((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID")
            if not container_id or not task.get("NodeID"):
                continue
            try:
                return self.node_client(task["NodeID"]).containers.get(container_id), task["NodeID"]
            except (DockerNotFound, EngineUnavailable):
                continue
        return None, None

    def instances(self, lab_id: str | None = None, key: str | None = None) -> list[LabInstance]:
        """Every instance with a labelled anchor service, overlay or config, grouped by instance
        key, with its lab containers as found through their nodes' engines."""
        selector = labels.filters(lab=lab_id, instance=key)
        networks = self.client.networks.list(filters=selector)
        services = self.client.services.list(filters=selector)
        configs = self.client.configs.list(filters=selector)
        found: dict[str, LabInstance] = {}

        def entry(resource_labels: dict) -> LabInstance:
            return instance_entry(found, resource_labels, self.endpoint.publish_host)

        for network in networks:
            if network.attrs.get("Scope") == "swarm":  # not a local engine's lab network (same labels)
                read_network(entry(network.attrs.get("Labels") or {}), network)
        for service in services:  # anchors: a service that exists counts, whatever its task does
            inst = entry(service.attrs.get("Spec", {}).get("Labels") or {})
            name = (service.attrs.get("Spec", {}).get("Labels") or {}).get(labels.ANCHOR)
            if name and name not in inst.services:
                inst.services.append(name)
        for config in configs:
            config.attrs["Labels"] = _config_labels(config)  # read like a volume's (instance_sessions)
            add_volume(entry(config.attrs["Labels"]), config)
        swarm_keys = set(found)
        for node_id, client in self.node_clients().items():  # the lab containers, on their nodes
            for container in client.containers.list(all=True, filters=selector, ignore_removed=True):
                name = container.labels.get(labels.SERVICE)
                if not name or container.labels.get(labels.PROBE) == "true":
                    continue  # an anchor's task or a check's probe
                if container.labels.get(labels.INSTANCE) not in swarm_keys:
                    continue  # a local engine's lab on this node: not this engine's
                inst = entry(container.labels)
                inst.containers[name] = container
                if name not in inst.services:
                    inst.services.append(name)
                if container.labels.get(labels.MAIN) == "true":
                    inst.main = inst.main or name
                    inst.publish_host = self._publish_host(node_id)  # where its ports are reached
        if self._lost_nodes:  # services whose anchor runs on a node that does not answer
            for service in services:
                node_id = self._task_node(service)
                name = (service.attrs.get("Spec", {}).get("Labels") or {}).get(labels.ANCHOR)
                if name and node_id in self._lost_nodes:
                    entry(service.attrs["Spec"]["Labels"]).unreachable[name] = self._lost_nodes[node_id].message
        for inst in found.values():
            if not inst.main and inst.services:
                inst.main = inst.services[0]
        return sorted(found.values(), key=lambda i: i.key)

    def _task_node(self, service) -> str | None:
        """The node of ``service``'s newest task (None before Swarm placed it)."""
        tasks = self.client.api.tasks(filters={"service": service.id})
        tasks.sort(key=lambda t: (t.get("Version") or {}).get("Index", 0), reverse=True)
        return next((t["NodeID"] for t in tasks if t.get("NodeID")), None)

    def instance(self, lab_id: str, instance: str = DEFAULT_INSTANCE) -> LabInstance:
        """The instance; one clear error (exit 4) when a service of it runs on a node that does
        not answer, rather than commands that fail later for a reason nobody sees."""
        inst = only_instance(self.instances(key=instance_key(lab_id, instance)), lab_id, instance)
        lost = {service: why for service, why in inst.unreachable.items() if service not in inst.containers}
        if lost:
            flag = "" if instance == DEFAULT_INSTANCE else f" --instance {instance}"
            raise EngineUnavailable(
                f"lab {inst.key}: {', '.join(sorted(lost))} cannot be reached: {next(iter(lost.values()))}",
                f"bring the node back, or `labs stop {lab_id}{flag}` and start it again on the nodes that answer; `labs cluster status` shows every node",
            )
        return inst

    # -- creating ------------------------------------------------------------------------
    def _config(self, lab: Lab, instance: str, session: str, marker: str):
        """Create the config ``<prefix>-<marker>`` (atomic across the cluster); returns (config, created)."""
        from docker.errors import APIError

        name = f"{resource_prefix(lab.id, instance)}-{marker}"
        try:
            config = self.client.configs.create(name=name, data=session.encode(), labels=self._labels(lab, instance, session, **{labels.MARKER: marker}))
            return self.client.configs.get(config.id), True
        except APIError as err:
            if err.status_code != 409:
                raise
        existing = [c for c in self.client.configs.list(filters={"name": name}) if c.name == name]
        if not existing:
            raise Conflict(f"lab {instance_key(lab.id, instance)}: its {marker} config {name} is being removed by another command", "try again in a moment; `labs status` says what runs")
        return existing[0], False

    def claim(self, lab: Lab, instance: str, session: str) -> None:
        """Claim the instance with a Swarm config: of two commands creating it at once, anywhere
        in the cluster, exactly one succeeds."""
        config, created = self._config(lab, instance, session, "claim")
        if created:
            return
        owner_labels = _config_labels(config)
        key = instance_key(lab.id, instance)
        if owner_labels.get(labels.INSTANCE) != key:
            raise LostClaim(*_name_clash(key, f"config {config.name}", owner_labels, lab.id))
        raise LostClaim(f"lab {key} is being started by another labs command ({owner_labels.get(labels.SESSION)})", "wait for it to finish, then `labs status`")

    def _network_options(self, lab: Lab) -> dict:
        """An attachable overlay (trusted probes attach to it from a service's node). Host-mode
        ports reach an anchor through the node's docker_gwbridge, which an internal overlay does
        not get: only a lab without ports (and without egress) is internal."""
        internal = not lab.egress and not any(service.ports for service in lab.services.values())
        return {"driver": "overlay", "attachable": True, "internal": internal}

    def _gateway_masquerades(self) -> bool | None:
        """Does this node's docker_gwbridge masquerade (None: it does not exist yet)?"""
        try:
            options = self.client.networks.get("docker_gwbridge").attrs.get("Options") or {}
        except Exception:  # noqa: BLE001 - no gateway bridge yet
            return None
        return options.get("com.docker.network.bridge.enable_ip_masquerade", "true") != "false"

    def guard_network(self, network, lab: Lab) -> str | None:
        """An internal overlay has no way out. A lab with published ports needs the node's
        docker_gwbridge, which only keeps replies from coming back when it was created without
        masquerading (docs/swarm.md); say so when it was not."""
        if lab.egress or network.attrs.get("Internal") or not self._gateway_masquerades():
            return None
        return "no egress guard on this swarm node: its docker_gwbridge masquerades, so lab containers with published ports can reach beyond the lab; docs/swarm.md says how to create it without"

    def egress_guard(self):
        """For `labs doctor`: overlays without ports are internal; with ports, it depends on the
        node's docker_gwbridge (the local engine's iptables guard is not used for overlays)."""
        from orchestrator.engine.firewall import GuardStatus

        if self._gateway_masquerades():
            return GuardStatus(False, "this swarm node's docker_gwbridge masquerades: labs with published ports can reach beyond the lab (docs/swarm.md: create it without masquerading)")
        return GuardStatus(True, "overlays of labs without ports are internal; docker_gwbridge does not masquerade")

    def _anchor_spec(self, lab: Lab, instance: str, service_name: str, tag: str, network, session: str, host_ports: dict[str, int], node: str | None = None) -> dict:
        """The Swarm service that holds a lab service's place: its task (``sleep infinity`` from
        the service's own image, every capability dropped) owns the network namespace — the
        overlay address, the name, the host-mode ports. The lab's container joins that namespace.

        A seat stays on one node: the main service's anchor reserves the whole seat's memory
        (every service's limit), so Swarm places it only on a node where the seat fits, and the
        other anchors are constrained to ``node`` (the main anchor's) and reserve nothing more."""
        from docker.types import ContainerSpec, EndpointSpec, NetworkAttachmentConfig, Placement, Resources, RestartPolicy, TaskTemplate

        service = lab.services[service_name]
        anchor_labels = self._labels(lab, instance, session, **{labels.ANCHOR: service_name, labels.FOLDER: str(lab.folder)})
        container = ContainerSpec(
            # By image id, never by tag: a node pulls a task's image by tag before it starts it
            # (a tag such as labs/nginx:… names a Docker Hub repository), which would ask a
            # registry, off the machine, and could run someone else's image under our name.
            # An id is never pulled; nodes that loaded the manager's images have the same ids.
            self.client.images.get(tag).id,
            command=["sleep", "infinity"],
            hostname=service_name,
            labels=anchor_labels,
            cap_drop=["ALL"],
            cap_add=[],
            stop_grace_period=10**9,
        )
        reserve = seat_memory(lab) if node is None else 0
        resources = Resources(cpu_limit=int(0.1e9), mem_limit=service.limits.memory_bytes, mem_reservation=reserve)
        resources["Limits"]["Pids"] = 16  # API 1.41
        pinned = os.environ.get("LABS_SWARM_NODE")
        constraints = [f"node.id=={node}"] if node else [f"node.hostname=={pinned}"] if pinned else []
        task = TaskTemplate(
            container,
            resources=resources,
            restart_policy=RestartPolicy(condition="none"),
            networks=[NetworkAttachmentConfig(network.id, aliases=[service_name])],
            placement=Placement(constraints=constraints) if constraints else None,
        )
        ports = [
            {"Protocol": "tcp", "TargetPort": port.container, "PublishedPort": host_ports[port_key(service_name, port.container)], "PublishMode": "host"}
            for port in service.ports
        ]
        return {
            "task_template": task,
            "name": f"{resource_prefix(lab.id, instance)}-{service_name}",
            "labels": anchor_labels,
            "endpoint_spec": EndpointSpec(mode="dnsrr", ports=ports or None),
        }

    def _create_anchor(self, lab: Lab, instance: str, name: str, tag: str, network, session: str, host_ports: dict[str, int], node: str | None = None):
        from docker.errors import APIError

        spec = self._anchor_spec(lab, instance, name, tag, network, session, host_ports, node)
        try:
            created = self.client.api.create_service(**spec)
        except APIError as err:
            if err.status_code == 409:
                key = instance_key(lab.id, instance)
                owners = [s.attrs["Spec"].get("Labels") or {} for s in self.client.services.list(filters={"name": spec["name"]}) if s.name == spec["name"]]
                if owners and owners[0].get(labels.INSTANCE) != key:
                    raise Conflict(*_name_clash(key, f"service {spec['name']}", owners[0], lab.id)) from None
                raise Conflict(f"a service named for {key} already exists: {err.explanation}", "another command is starting this lab; wait for it, then `labs status`") from None
            raise
        return self.client.services.get(created["ID"])

    def create_services(self, lab: Lab, instance: str, tags: dict[str, str], network, values, session: str, host_ports: dict[str, int]) -> dict:
        """Per lab service: its anchor service, then — once the anchor's task runs — the lab's
        container, created (not started) through that node's engine in the anchor's network
        namespace, hardened exactly like a local one. Swarm places the main service's anchor
        (on the node with the fewest tasks among those where the whole seat fits: seats spread
        over the nodes); the other anchors follow it to that node, so a seat never straddles
        nodes. Returns service -> container. A failure is raised after every step returned, so
        a rollback sees all."""
        from docker.errors import APIError

        def create(name: str, node: str | None = None):
            tag = tags[lab.services[name].image]
            anchor, node = self._running_container(self._create_anchor(lab, instance, name, tag, network, session, host_ports, node), time.monotonic() + TASK_START_TIMEOUT)
            try:
                return anchor.client.containers.create(tag, network_mode=f"container:{anchor.id}", **self._service_container_options(lab, instance, name, values, session)), node
            except APIError as err:
                if err.status_code == 409:
                    raise Conflict(f"a container named for {instance_key(lab.id, instance)} already exists on the node of {anchor.name}: {err.explanation}", "another command is starting this lab; wait for it, then `labs status`") from None
                raise

        main = lab.main_service
        created, node = create(main)
        others = [name for name in lab.services if name != main]
        with ThreadPoolExecutor(max_workers=max(1, len(others))) as pool:
            futures = {name: pool.submit(create, name, node) for name in others}
        return {main: created, **{name: future.result()[0] for name, future in futures.items()}}

    def _running_container(self, service, deadline: float):
        """(container, node id) of ``service``'s task once it runs; a task Swarm cannot place or
        start is one clear error (with Swarm's reason), a task that takes too long a timeout."""
        last = "not scheduled yet"
        while True:
            tasks = self.client.api.tasks(filters={"service": service.id})
            tasks.sort(key=lambda t: (t.get("Version") or {}).get("Index", 0), reverse=True)
            if tasks:
                status = tasks[0].get("Status") or {}
                state, err = status.get("State", "?"), status.get("Err") or status.get("Message") or ""
                last = f"{state}: {err}" if err else state
                if state == "running":
                    container, node = self._task_container(service)
                    if container is not None:
                        return container, node
                if state in _FAILED_TASK:
                    raise Conflict(f"Swarm could not start {service.name}: {last}", f"see `docker service ps --no-trunc {service.name}`; a port in use or an image missing on the node (`labs images save` here, `labs images load` there) are the usual causes")
            if time.monotonic() > deadline:
                hint = "the cluster has no node with enough free memory, or the port is taken on every node" if "no suitable node" in last else "the node may be slow or the image missing there"
                raise Timeout(f"{service.name} is not running after {TASK_START_TIMEOUT:g} s (task {last})", f"{hint}; `docker service ps --no-trunc {service.name}` says more")
            time.sleep(_POLL)

    def mark_complete(self, lab: Lab, instance: str, session: str):
        """Record that the instance is fully started (break applied): a small labelled config."""
        config, _ = self._config(lab, instance, session, "complete")
        config.attrs["Labels"] = _config_labels(config)
        return config

    # -- removing ------------------------------------------------------------------------
    @staticmethod
    def _remove_objects(objects: list) -> int:
        """Remove services or configs; one already gone is not an error. Returns how many went."""
        from docker.errors import NotFound as DockerNotFound

        removed = 0
        for item in objects:
            try:
                item.remove()
                removed += 1
            except DockerNotFound:
                pass
        return removed

    def remove_instance(self, key: str | None, lab_id: str | None = None, session: str | None = None) -> int:
        """Remove every labelled service, network and config of an instance (or all of them, or
        only those of one command's ``session``), and every labelled container and volume left on
        any node (probes, a restarted task's container); returns how many were removed."""
        from docker.errors import APIError

        selector = labels.filters(instance=key, lab=lab_id)
        if session:
            selector["label"].append(f"{labels.SESSION}={session}")
        nodes = self.node_clients()
        # Without a key, only instances this engine made (a node's local-engine labs stay).
        keys = None if key else {i.key for i in self.instances(lab_id=lab_id)}

        def containers() -> list:
            found = [c for client in nodes.values() for c in client.containers.list(all=True, filters=selector, ignore_removed=True)]
            return found if keys is None else [c for c in found if c.labels.get(labels.INSTANCE) in keys]

        services = self.client.services.list(filters=selector)
        stranded = self._stranded(services)  # instance key -> {service: node}, on nodes that do not answer
        removed = _remove_quietly([c for c in containers() if labels.ANCHOR not in c.labels])  # the lab containers (and probes) first: they live in the anchors' namespaces
        removed += self._remove_objects(services)
        networks = [n for n in self.client.networks.list(filters=selector) if n.attrs.get("Scope") == "swarm"]
        deadline = time.monotonic() + 60
        while True:  # Swarm removes the anchors' task containers on its own time; the network waits for them
            busy = []
            for network in networks:
                try:
                    network.remove()
                    removed += 1
                except APIError as err:
                    if err.status_code != 404:
                        busy.append(network)
            networks = busy
            left = containers()
            if not left and (not networks or stranded):  # a lost node's tasks hold the network until it is back (or removed)
                break
            if time.monotonic() > deadline:
                what = f"network {networks[0].name}" if networks else f"container {left[0].name}"
                raise Conflict(f"{what} of {key or 'a lab'} is still there a minute after its services were removed", "run `labs stop` again in a moment; `docker service ls` shows what Swarm still runs")
            _remove_quietly([c for c in left if labels.ANCHOR not in c.labels])  # anything started meanwhile
            time.sleep(0.5)
        for client in nodes.values():
            removed += _remove_quietly(client.volumes.list(filters=selector))
        configs = self.client.configs.list(filters=selector)
        removed += self._remove_objects([c for c in configs if _config_labels(c).get(labels.INSTANCE) not in stranded])  # a stranded instance keeps its claim
        if stranded:
            raise self._stranded_error(stranded, removed, networks)
        return removed

    def _stranded(self, services: list) -> dict[str, dict[str, str]]:
        """instance key -> {service: node name} for anchors whose task is on a node that does not answer."""
        stranded: dict[str, dict[str, str]] = {}
        if not self._lost_nodes:
            return stranded
        names = {n["ID"]: (n.get("Description") or {}).get("Hostname") or n["ID"][:12] for n in self.client.api.nodes()}
        for service in services:
            node_id = self._task_node(service)
            if node_id in self._lost_nodes:
                spec_labels = service.attrs.get("Spec", {}).get("Labels") or {}
                stranded.setdefault(spec_labels.get(labels.INSTANCE, "?"), {})[spec_labels.get(labels.ANCHOR, service.name)] = names.get(node_id, node_id[:12])
        return stranded

    def _stranded_error(self, stranded: dict[str, dict[str, str]], removed: int, networks: list) -> EngineUnavailable:
        """What `labs stop` could not remove because a node is lost, and how to finish."""
        parts, commands = [], []
        for key, services in sorted(stranded.items()):
            by_node: dict[str, list[str]] = {}
            for service, node in services.items():
                by_node.setdefault(node, []).append(service)
            parts += [f"the containers of {key}'s {', '.join(sorted(names))} on node {node}" for node, names in sorted(by_node.items())]
            lab, _, instance = key.partition(".")
            commands.append(f"`labs stop {lab}" + (f" --instance {instance}`" if instance else "`"))
        nodes = " ".join(sorted({node for services in stranded.values() for node in services.values()}))
        kept = ", ".join([f"network {n.name}" for n in networks] + ["the instance's claim"])
        again = " and ".join(commands)
        return EngineUnavailable(
            f"removed what labs could reach ({removed} resource(s): the Swarm services, and everything on the nodes that answer), "
            f"but not {'; '.join(parts)}: {next(iter(self._lost_nodes.values())).message}. Kept until those are removed: {kept}",
            f"when {nodes} is back, run {again} again: it removes the rest; if it will not come back, "
            f"`docker node rm --force {nodes}` on the manager, then {again} again",
        )

    def remove_services(self, inst: LabInstance) -> int:
        """Remove an instance's anchors, containers and completion marker, keeping its network,
        values and claim."""
        removed = _remove_quietly(list(inst.containers.values()))
        removed += self._remove_objects(self.client.services.list(filters=labels.filters(instance=inst.key)))
        return removed + self._remove_objects(inst.markers)

    def leftovers(self, key: str) -> list[str]:
        """Every service, network, config, and (on any node) container and volume still labelled with ``key``."""
        selector = {"label": [f"{labels.INSTANCE}={key}"]}
        found = [f"service {s.name}" for s in self.client.services.list(filters=selector)]
        found += [f"network {n.name}" for n in self.client.networks.list(filters=selector)]
        found += [f"config {c.name}" for c in self.client.configs.list(filters=selector)]
        for client in self.node_clients().values():
            found += [f"container {c.name}" for c in client.containers.list(all=True, filters=selector, ignore_removed=True)]
            found += [f"volume {v.name}" for v in client.volumes.list(filters=selector)]
        return found

    def seats_that_fit(self, lab: Lab, headroom: float) -> tuple[int, str]:
        """How many more instances of ``lab`` fit on the cluster now: whole seats per ready,
        active and reachable node, from the memory Swarm has not reserved there (admission
        control for classrooms; Swarm enforces reservations itself, so no headroom applies)."""
        from orchestrator.engine.cluster import cluster_status

        status = cluster_status(self.client, [lab])
        seats = status.labs[0]
        nodes = [node for node in status.nodes if node.schedulable]
        return seats.seats, (f"the cluster's {len(nodes)} schedulable node(s) of {len(status.nodes)} have room for "
                             f"{seats.seats} seat(s) of {lab.id} ({_per_node(status, seats)})")


def _per_node(status, seats) -> str:
    names = {node.id: node.hostname for node in status.nodes}
    return ", ".join(f"{names.get(node_id, node_id[:12])}: {count}" for node_id, count in sorted(seats.per_node.items())) or "none"
