"""The lab lifecycle: start, solve, reset, stop and status of lab instances.

``start_lab`` builds what is missing, creates one network and one container per
service (labelled, ports on 127.0.0.1 only, hardened), waits for the
environment and applies the lab's break. Any failure or interrupt on the way
removes everything it created, by label. Nothing here prints: progress goes to
a callback.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import string
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.engine import labels
from orchestrator.engine.client import connect, engine_errors
from orchestrator.errors import Conflict, Interrupted
from orchestrator.engine.images import ensure_images
from orchestrator.engine.instances import (
    DEFAULT_INSTANCE,
    LabInstance,
    find_instances,
    get_instance,
    instance_key,
    resource_prefix,
)
from orchestrator.locks import instance_lock
from orchestrator.engine.ports import holder, is_free
from orchestrator.provision import DeployResult, apply_deploy
from orchestrator.engine.readiness import wait_all_ready
from orchestrator.spec import Lab

if TYPE_CHECKING:
    import docker

Progress = Callable[[str], None]

# Capabilities every lab container keeps unless its image declares its own set
# (label io.labs.caps): enough for a Debian daemon to start as root and drop
# to its user, and for a learner to install a package.
DEFAULT_CAPS = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL", "NET_BIND_SERVICE"]
IMAGE_CAPS_LABEL = f"{labels.PREFIX}.caps"
_ALPHABET = string.ascii_letters + string.digits


def _quiet(_: str) -> None:
    pass


def generate_values(lab: Lab) -> dict[str, str]:
    """Random per-instance values: a nonce always, plus the lab's declared ones."""
    values = {"nonce": "".join(secrets.choice(_ALPHABET) for _ in range(16))}
    for name, length in lab.values.items():
        values[name] = "".join(secrets.choice(_ALPHABET) for _ in range(length))
    return values


def _render_env(env: dict[str, str], values: dict[str, str]) -> dict[str, str]:
    return {name: string.Template(text).safe_substitute(values) for name, text in env.items()}


def _check_ports(client: docker.DockerClient, lab: Lab, instance: str) -> None:
    if instance != DEFAULT_INSTANCE:
        return  # named instances publish on free ports the engine picks
    for service_name, service in lab.services.items():
        for port in service.ports:
            if port.host is not None and not is_free(port.host):
                raise Conflict(
                    f"port 127.0.0.1:{port.host} (service {service_name} of {lab.id}) is already in use by {holder(port.host, client)}",
                    f"stop that, or run another instance on free ports: `labs start {lab.id} --instance NAME`",
                )


def _network_options(lab: Lab) -> dict:
    """No egress unless the lab asks: without published ports the network is internal; with
    them, the bridge does no masquerading, so replies from outside never come back."""
    if lab.egress:
        return {}
    if not any(service.ports for service in lab.services.values()):
        return {"internal": True}
    return {"options": {"com.docker.network.bridge.enable_ip_masquerade": "false"}}


def _create_network(client: docker.DockerClient, lab: Lab, instance: str, values: dict[str, str], session: str):
    from docker.errors import APIError

    key = instance_key(lab.id, instance)
    try:
        return client.networks.create(
            resource_prefix(lab.id, instance),
            driver="bridge",
            check_duplicate=True,
            **_network_options(lab),
            labels={
                **labels.managed(),
                labels.SESSION: session,
                labels.LAB: lab.id,
                labels.INSTANCE: key,
                labels.FOLDER: str(lab.folder),
                labels.MAIN: lab.main_service,
                labels.VALUES: json.dumps(values),
                f"{labels.PREFIX}.services": ",".join(lab.services),
            },
        )
    except APIError as err:
        if err.status_code == 409:
            raise Conflict(f"lab {key} is being started by another command (its network already exists)", "wait for it, then `labs status`") from None
        raise


def _create_container(client: docker.DockerClient, lab: Lab, instance: str, service_name: str, tag: str, network, values, session: str):
    service = lab.services[service_name]
    image_caps = (client.images.get(tag).labels or {}).get(IMAGE_CAPS_LABEL)
    caps = sorted(set((image_caps.split() if image_caps else DEFAULT_CAPS) + list(service.cap_add)))
    ports = {}
    for port in service.ports:
        host_port = port.host if instance == DEFAULT_INSTANCE else None
        ports[f"{port.container}/tcp"] = ("127.0.0.1", host_port) if host_port else ("127.0.0.1",)
    return client.containers.create(
        tag,
        command=service.command,
        name=f"{resource_prefix(lab.id, instance)}-{service_name}",
        hostname=service_name,
        labels={
            **labels.managed(),
            labels.SESSION: session,
            labels.LAB: lab.id,
            labels.INSTANCE: instance_key(lab.id, instance),
            labels.SERVICE: service_name,
            labels.FOLDER: str(lab.folder),
            labels.MAIN: "true" if service_name == lab.main_service else "false",
        },
        environment=_render_env(service.env, values),
        # By id: while a racing command's same-named network exists, the name is ambiguous.
        network=network.id,
        networking_config={network.id: client.api.create_endpoint_config(aliases=[service_name])},
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


def _start_containers(containers: list) -> None:
    from docker.errors import APIError

    def start(container):
        try:
            container.start()
        except APIError as err:
            text = str(err.explanation or err)
            if "port is already allocated" in text or "address already in use" in text:
                raise Conflict(f"starting {container.name}: {text}", "free that port or use `labs start LAB --instance NAME`") from None
            raise

    with ThreadPoolExecutor(max_workers=max(1, len(containers))) as pool:
        for future in [pool.submit(start, c) for c in containers]:
            future.result()


def _create_services(client, lab: Lab, instance: str, tags: dict[str, str], network, values, session: str, progress: Progress) -> dict:
    from docker.errors import APIError

    created = {}
    for name, service in lab.services.items():
        try:
            created[name] = _create_container(client, lab, instance, name, tags[service.image], network, values, session)
        except APIError as err:
            if err.status_code == 409:
                raise Conflict(f"a container named for {instance_key(lab.id, instance)} already exists: {err.explanation}", "another command is starting this lab; wait for it, then `labs status`") from None
            raise
    progress(f"starting {len(created)} service(s): {', '.join(created)}")
    _start_containers(list(created.values()))
    progress("waiting for the environment")
    wait_all_ready([(n, c, lab.services[n].readiness) for n, c in created.items()])
    return created


def _new_session() -> str:
    """Who is creating resources: host, pid and a random token (labelled on everything created)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _session_alive(session: str) -> bool:
    """Is the command that owns ``session`` still running? Unknown hosts count as alive."""
    host, _, rest = session.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sessions(inst: LabInstance) -> set[str]:
    resources = list(inst.containers.values()) + ([inst.network] if inst.network is not None else []) + inst.volumes
    found = set()
    for resource in resources:
        resource_labels = getattr(resource, "labels", None) or resource.attrs.get("Labels") or {}
        if labels.SESSION in resource_labels:
            found.add(resource_labels[labels.SESSION])
    return found


def _claim(client, lab: Lab, instance: str, session: str) -> None:
    """Claim the instance in the engine itself before creating anything: creating a volume is
    atomic, and creating an existing one returns it with its first creator's labels. So of two
    commands starting the same instance at once (even from different users), exactly one wins."""
    key = instance_key(lab.id, instance)
    claim = client.volumes.create(
        name=f"{resource_prefix(lab.id, instance)}-claim",
        labels={**labels.managed(), labels.SESSION: session, labels.LAB: lab.id, labels.INSTANCE: key, labels.MARKER: "claim"},
    )
    owner = (claim.attrs.get("Labels") or {}).get(labels.SESSION)
    if owner != session:
        raise _LostClaim(f"lab {key} is being started by another labs command ({owner})", "wait for it to finish, then `labs status`")


class _LostClaim(Conflict):
    """Another command owns the instance: back off without touching its resources."""


def _mark_complete(client, lab: Lab, instance: str, session: str):
    """Record that the instance is fully started (break applied): a small labelled volume."""
    return client.volumes.create(
        name=f"{resource_prefix(lab.id, instance)}-complete",
        labels={**labels.managed(), labels.SESSION: session, labels.LAB: lab.id, labels.INSTANCE: instance_key(lab.id, instance), labels.MARKER: "complete"},
    )


def _build_and_break(client, lab: Lab, instance: str, tags, network, values, session: str, progress: Progress) -> LabInstance:
    _create_services(client, lab, instance, tags, network, values, session, progress)
    inst = get_instance(client, lab.id, instance)
    progress("breaking the environment (break.py)")
    apply_deploy(inst, lab.path(lab.break_))
    inst.markers.append(_mark_complete(client, lab, instance, session))
    return inst


def _resume(client, inst: LabInstance, lab: Lab, progress: Progress) -> LabInstance:
    """Start the stopped containers of a complete instance again (after an engine restart): the
    learner's work inside them is kept."""
    stopped = [c for c in inst.containers.values() if c.status != "running"]
    progress(f"resuming {inst.key}: starting {len(stopped)} stopped service(s)")
    _start_containers(stopped)
    wait_all_ready([(s, c, lab.services[s].readiness) for s, c in inst.containers.items() if s in lab.services])
    resumed = get_instance(client, lab.id, inst.instance)
    resumed.resumed = True
    return resumed


def _prefetch_pyinfra() -> None:
    """Import pyinfra (about 0.35 s) on a side thread while the containers are being created."""
    import importlib
    import threading

    threading.Thread(target=importlib.import_module, args=("pyinfra.api",), daemon=True).start()


def _record(kind: str, key: str, record: bool, **detail) -> None:
    """Keep the event in the history of attempts (``labs progress``); never fails the command."""
    if record:
        from orchestrator.history import record as keep

        keep(kind, key, detail=detail)


def start_lab(lab: Lab, instance: str = DEFAULT_INSTANCE, progress: Progress = _quiet, *, record: bool = True) -> LabInstance:
    """Start ``lab`` broken; if that instance already runs, return it unchanged.

    Leftovers of an interrupted start (no completion marker) are removed first;
    a complete instance whose containers were stopped (engine restart) is resumed.
    Recorded in the history unless ``record`` is false (validation).
    """
    inst = _start_lab(lab, instance, progress)
    _record("start", inst.key, record, already_running=inst.already_running, resumed=inst.resumed)
    return inst


def _start_lab(lab: Lab, instance: str, progress: Progress) -> LabInstance:
    client = connect()
    _prefetch_pyinfra()
    key = instance_key(lab.id, instance)
    with instance_lock(key, f"start {lab.id}"), engine_errors(f"starting {key}"):
        existing = find_instances(client, key=key)
        if existing:
            inst = existing[0]
            if inst.state == "running":
                inst.already_running = True
                return inst
            if not inst.complete:
                alive = [sess for sess in _sessions(inst) if _session_alive(sess)]
                if alive:
                    raise Conflict(f"lab {key} is being started by another labs command ({alive[0]})", "wait for it to finish, then `labs status`; if that command is gone, `labs stop` removes its leftovers")
                progress(f"removing leftovers of an interrupted start of {key}")
                _remove_instance(client, key)
            elif not inst.missing and inst.network is not None:
                return _resume(client, inst, lab, progress)
            else:
                raise Conflict(
                    f"lab {key} is degraded: {', '.join(inst.missing) or 'its network'} missing",
                    f"`labs reset {lab.id}` rebuilds it broken, or `labs stop {lab.id}` removes it",
                )
        tags = ensure_images(client, [s.image for s in lab.services.values()], progress, lab.folder)
        _check_ports(client, lab, instance)
        values = generate_values(lab)
        session = _new_session()
        try:
            progress(f"creating network {resource_prefix(lab.id, instance)}")
            _claim(client, lab, instance, session)
            network = _create_network(client, lab, instance, values, session)
            return _build_and_break(client, lab, instance, tags, network, values, session, progress)
        except _LostClaim:
            raise
        except KeyboardInterrupt:
            _rollback(client, key, session)
            raise Interrupted(f"interrupted: start of {key} rolled back", "nothing of it is left running") from None
        except BaseException:
            _rollback(client, key, session)
            raise


def _rollback(client, key: str, session: str | None) -> None:
    """Remove what this command created (its session label), never another command's work.
    Best effort: when the engine itself is gone, `labs stop` cleans up later."""
    import time

    try:
        # A create interrupted mid-request may still land in the engine a moment later: sweep
        # until a pass finds nothing.
        for _ in range(5):
            if not _remove_instance(client, key, session=session):
                break
            time.sleep(0.2)
    except Exception:
        pass


def _remove_instance(client: docker.DockerClient, key: str | None, lab_id: str | None = None, session: str | None = None) -> int:
    """Remove every labelled container, network and volume of an instance (or all); returns the count."""
    from docker.errors import NotFound as DockerNotFound

    selector = labels.filters(instance=key, lab=lab_id)
    if session:
        selector["label"].append(f"{labels.SESSION}={session}")
    removed = _remove_resources(client.containers.list(all=True, filters=selector, ignore_removed=True))
    for network in client.networks.list(filters=selector):  # once its containers are gone
        try:
            network.remove()
            removed += 1
        except DockerNotFound:
            pass
    return removed + _remove_resources(client.volumes.list(filters=selector))


@dataclass
class StopResult:
    keys: list[str]
    removed: int


def stop_lab(lab_id: str, instance: str = DEFAULT_INSTANCE, *, record: bool = True) -> StopResult:
    """Remove the instance by label alone (its lab folder may be gone). Idempotent."""
    client = connect()
    key = instance_key(lab_id, instance)
    with instance_lock(key, f"stop {lab_id}"), engine_errors(f"stopping {key}"):
        removed = _remove_instance(client, key)
    from orchestrator.progress import forget

    forget(key)
    if removed:
        _record("stop", key, record)
    return StopResult([key] if removed else [], removed)


def stop_all() -> StopResult:
    client = connect()
    with engine_errors("stopping all labs"):
        keys = [inst.key for inst in find_instances(client)]
        removed = _remove_instance(client, None)
    from orchestrator.progress import forget

    for key in keys:
        forget(key)
    return StopResult(keys, removed)


def reset_lab(lab: Lab, instance: str = DEFAULT_INSTANCE, progress: Progress = _quiet, *, record: bool = True) -> LabInstance:
    """Back to a freshly broken state: fresh containers from the images, the same network and values."""
    inst = _reset_lab(lab, instance, progress)
    _record("reset", inst.key, record)
    return inst


def _reset_lab(lab: Lab, instance: str, progress: Progress) -> LabInstance:
    client = connect()
    key = instance_key(lab.id, instance)
    with instance_lock(key, f"reset {lab.id}"), engine_errors(f"resetting {key}"):
        found = find_instances(client, key=key)
        if found and found[0].network is not None:
            current = found[0]
            tags = ensure_images(client, [s.image for s in lab.services.values()], progress, lab.folder)
            progress("removing the old containers")
            _remove_resources(list(current.containers.values()) + current.markers)
            session = _new_session()
            try:
                inst = _build_and_break(client, lab, instance, tags, current.network, current.values, session, progress)
            except KeyboardInterrupt:
                _rollback(client, key, None)
                raise Interrupted(f"interrupted: reset of {key} rolled back; the lab is stopped", f"start it again with `labs start {lab.id}`") from None
            except BaseException:
                _rollback(client, key, None)
                raise
            from orchestrator.progress import forget

            forget(key)
            return inst
        _remove_instance(client, key)
        progress(f"{key} was not running: starting it")
    return _start_lab(lab, instance, progress)


def _remove_resources(resources: list) -> int:
    """Remove containers (with their anonymous volumes) and volumes in parallel; returns how many
    were removed (one already gone is not an error)."""
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


def solve_lab(lab: Lab, instance: str = DEFAULT_INSTANCE, *, record: bool = True) -> DeployResult:
    """Apply the reference solution to a running instance."""
    client = connect()
    key = instance_key(lab.id, instance)
    with instance_lock(key, f"solve {lab.id}"), engine_errors(f"solving {key}"):
        inst = get_instance(client, lab.id, instance)
        result = apply_deploy(inst, lab.path(lab.solution))
    _record("solve", key, record, changed=result.changed)
    return result


def lab_status(lab_id: str | None = None) -> list[LabInstance]:
    client = connect()
    with engine_errors("reading lab status"):
        return find_instances(client, lab_id=lab_id)


def running_instance(lab_id: str, instance: str = DEFAULT_INSTANCE) -> LabInstance:
    client = connect()
    with engine_errors(f"finding {lab_id}"):
        return get_instance(client, lab_id, instance)

