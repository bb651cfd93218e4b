"""The lab lifecycle: start, solve, reset, stop and status of lab instances.

``start_lab`` builds what is missing, creates one network and one container per
service (labelled, ports on 127.0.0.1 only, hardened), waits for the
environment and applies the lab's break. Any failure or interrupt on the way
removes everything it created, by label. Nothing here prints: progress goes to
a callback.
"""

from __future__ import annotations

import os
import secrets
import socket
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestrator.engine import open_engine
from orchestrator.engine.docker_engine import LostClaim, instance_sessions
from orchestrator.engine.instances import DEFAULT_INSTANCE, LabInstance, instance_key, resource_prefix
from orchestrator.errors import Conflict, Interrupted
from orchestrator.locks import instance_lock
from orchestrator.provision import DeployResult, apply_deploy
from orchestrator.spec import Lab

Progress = Callable[[str], None]
_ALPHABET = string.ascii_letters + string.digits


def check_images(lab: Lab) -> list[str]:
    """The images a lab needs: its services', and the probe image its checks run tools from."""
    from orchestrator.engine.probes import PROBE_IMAGE

    return [*(s.image for s in lab.services.values()), PROBE_IMAGE]


def _quiet(_: str) -> None:
    pass


def generate_values(lab: Lab) -> dict[str, str]:
    """Random per-instance values: a nonce always, plus the lab's declared ones."""
    values = {"nonce": "".join(secrets.choice(_ALPHABET) for _ in range(16))}
    for name, length in lab.values.items():
        values[name] = "".join(secrets.choice(_ALPHABET) for _ in range(length))
    return values


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


def _build_and_break(engine, lab: Lab, instance: str, tags, network, values, host_ports, session: str, progress: Progress, workspace: bytes | None = None) -> LabInstance:
    """Fence the network, create and start the services, wait for the environment, put back a
    kept workspace, apply the break (a build lab's setup), and mark the instance complete."""
    warning = engine.guard_network(network, lab)  # before any container can send a packet
    created = engine.create_services(lab, instance, tags, network, values, session, host_ports)
    progress(f"starting {len(created)} service(s): {', '.join(created)}")
    engine.start(list(created.values()))
    progress("waiting for the environment")
    engine.wait_ready(lab, created)
    inst = engine.instance(lab.id, instance)
    if workspace is not None:
        progress(f"restoring your workspace ({lab.workspace.path} in {lab.workspace.service})")
        engine.restore_path(inst, lab.workspace.service, lab.workspace.path, workspace)
    verb = "preparing" if lab.kind == "build" else "breaking"
    progress(f"{verb} the environment ({lab.prepare})")
    try:
        apply_deploy(inst, lab.path(lab.prepare))
    except Exception as err:
        _explain_vanished(engine, lab, instance, err)
        raise
    inst.markers.append(engine.mark_complete(lab, instance, session))
    inst.warnings = [warning] if warning else []
    return inst


def _explain_vanished(engine, lab: Lab, instance: str, err: Exception) -> None:
    """A break that failed because another command (another user's `labs stop`, a `docker rm`)
    removed the instance meanwhile is a conflict, not a broken break.py."""
    try:
        now = engine.instances(key=instance_key(lab.id, instance))
    except Exception:  # noqa: BLE001 - the engine itself is gone: keep the original error
        return
    missing = list(lab.services) if not now else [s for s in lab.services if s not in now[0].containers or now[0].containers[s].status != "running"]
    if missing:
        raise Conflict(
            f"lab {instance_key(lab.id, instance)} was removed or stopped by another command while it was being started ({', '.join(missing)} gone during {lab.prepare})",
            f"nothing is wrong with the lab; see who stopped it, then `labs start {lab.id}` again",
        ) from err


def _save_workspace(engine, lab: Lab, inst: LabInstance, progress: Progress) -> bytes | None:
    """The learner's workspace as an archive, when the lab keeps it across a reset."""
    space = lab.workspace
    if space is None or space.on_reset != "keep" or space.service not in inst.containers:
        return None
    progress(f"keeping your workspace ({space.path} in {space.service})")
    return engine.save_path(inst, space.service, space.path)


def _resume(engine, inst: LabInstance, lab: Lab, progress: Progress) -> LabInstance:
    """Start the stopped containers of a complete instance again (after an engine restart): the
    learner's work inside them is kept."""
    stopped = engine.stopped_containers(inst)
    warning = engine.guard_network(inst.network, lab)  # the host's firewall may have been reset
    progress(f"resuming {inst.key}: starting {len(stopped)} stopped service(s)")
    engine.start(stopped)
    engine.wait_ready(lab, inst.containers)
    resumed = engine.instance(lab.id, inst.instance)
    resumed.resumed = True
    resumed.warnings = [warning] if warning else []
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
    engine = open_engine()
    _prefetch_pyinfra()
    key = instance_key(lab.id, instance)
    with instance_lock(key, f"start {lab.id}"), engine.errors(f"starting {key}"):
        existing = engine.instances(key=key)
        if existing:
            inst = existing[0]
            if inst.state == "running":
                inst.already_running = True
                return inst
            if not inst.complete:
                alive = [sess for sess in instance_sessions(inst) if _session_alive(sess)]
                if alive:
                    raise Conflict(f"lab {key} is being started by another labs command ({alive[0]})", "wait for it to finish, then `labs status`; if that command is gone, `labs stop` removes its leftovers")
                progress(f"removing leftovers of an interrupted start of {key}")
                engine.remove_instance(key)
            elif not inst.missing and inst.network is not None:
                return _resume(engine, inst, lab, progress)
            else:
                raise Conflict(
                    f"lab {key} is degraded: {', '.join(inst.missing) or 'its network'} missing",
                    f"`labs reset {lab.id}` rebuilds it broken, or `labs stop {lab.id}` removes it",
                )
        tags = engine.ensure_images(check_images(lab), progress, lab.folder)
        engine.check_ports(lab, instance)
        values = generate_values(lab)
        host_ports = engine.plan_ports(lab, instance)
        session = _new_session()
        try:
            progress(f"creating network {resource_prefix(lab.id, instance)}")
            engine.claim(lab, instance, session)
            network = engine.create_network(lab, instance, values, session, host_ports)
            return _build_and_break(engine, lab, instance, tags, network, values, host_ports, session, progress)
        except LostClaim:
            raise
        except KeyboardInterrupt:
            _rollback(engine, key, session)
            raise Interrupted(f"interrupted: start of {key} rolled back", "nothing of it is left running") from None
        except BaseException:
            _rollback(engine, key, session)
            raise


def _rollback(engine, key: str, session: str | None) -> None:
    """Remove what this command created (its session label), never another command's work.
    Best effort: when the engine itself is gone, `labs stop` cleans up later."""
    import time

    try:
        # A create interrupted mid-request may still land in the engine a moment later: sweep
        # until a pass finds nothing.
        for _ in range(5):
            if not engine.remove_instance(key, session=session):
                break
            time.sleep(0.2)
    except Exception:
        pass


@dataclass
class StopResult:
    keys: list[str]
    removed: int


def stop_lab(lab_id: str, instance: str = DEFAULT_INSTANCE, *, record: bool = True) -> StopResult:
    """Remove the instance by label alone (its lab folder may be gone). Idempotent."""
    engine = open_engine()
    key = instance_key(lab_id, instance)
    with instance_lock(key, f"stop {lab_id}", remove_after=True), engine.errors(f"stopping {key}"):
        removed = engine.remove_instance(key)
    from orchestrator.progress import forget

    forget(key)
    if removed:
        _record("stop", key, record)
    return StopResult([key] if removed else [], removed)


def stop_all() -> StopResult:
    engine = open_engine()
    with engine.errors("stopping all labs"):
        keys = [inst.key for inst in engine.instances()]
        removed = engine.remove_instance(None)
    from orchestrator.progress import forget

    from orchestrator.locks import remove_stale_locks

    for key in keys:
        forget(key)
    remove_stale_locks()
    return StopResult(keys, removed)


def reset_lab(lab: Lab, instance: str = DEFAULT_INSTANCE, progress: Progress = _quiet, *, record: bool = True, keep_workspace: bool = True) -> LabInstance:
    """Back to a freshly broken state: fresh containers from the images, the same network and values.
    A workspace the lab keeps across resets is kept, unless ``keep_workspace`` is false."""
    inst = _reset_lab(lab, instance, progress, keep_workspace)
    _record("reset", inst.key, record)
    return inst


def _reset_lab(lab: Lab, instance: str, progress: Progress, keep_workspace: bool = True) -> LabInstance:
    engine = open_engine()
    key = instance_key(lab.id, instance)
    with instance_lock(key, f"reset {lab.id}"), engine.errors(f"resetting {key}"):
        found = engine.instances(key=key)
        if found and found[0].network is not None:
            current = found[0]
            tags = engine.ensure_images(check_images(lab), progress, lab.folder)
            workspace = _save_workspace(engine, lab, current, progress) if keep_workspace else None
            progress("removing the old containers")
            engine.remove_services(current)
            session = _new_session()
            try:
                # The same host ports as before (planned afresh only for ports the lab added since).
                host_ports = {**engine.plan_ports(lab, instance), **current.host_ports}
                inst = _build_and_break(engine, lab, instance, tags, current.network, current.values, host_ports, session, progress, workspace)
            except KeyboardInterrupt:
                _rollback(engine, key, None)
                raise Interrupted(f"interrupted: reset of {key} rolled back; the lab is stopped", f"start it again with `labs start {lab.id}`") from None
            except BaseException:
                _rollback(engine, key, None)
                raise
            from orchestrator.progress import forget

            forget(key)
            return inst
        engine.remove_instance(key)
        progress(f"{key} was not running: starting it")
    return _start_lab(lab, instance, progress)


def solve_lab(lab: Lab, instance: str = DEFAULT_INSTANCE, deploy: Path | None = None, *, record: bool = True) -> DeployResult:
    """Apply the reference solution (or ``deploy``, another fix such as a shortcut) to a running instance."""
    engine = open_engine()
    key = instance_key(lab.id, instance)
    with instance_lock(key, f"solve {lab.id}"), engine.errors(f"solving {key}"):
        inst = engine.instance(lab.id, instance)
        result = apply_deploy(inst, deploy or lab.path(lab.solution))
    _record("solve", key, record, changed=result.changed, deploy=str(deploy) if deploy else "solution")
    return result


def lab_status(lab_id: str | None = None) -> list[LabInstance]:
    engine = open_engine()
    with engine.errors("reading lab status"), engine.quick():
        return engine.instances(lab_id=lab_id)


def instance_with_lab(lab_id: str, instance: str = DEFAULT_INSTANCE, labs_dir=None) -> tuple[LabInstance, Lab, str | None]:
    """A running instance and the lab it was started from (its folder label, so ``--labs-dir`` is
    not needed again), with a note when the search path would have given another folder."""
    from orchestrator.catalog import lab_of_instance

    inst = running_instance(lab_id, instance)
    lab, note = lab_of_instance(lab_id, inst.folder, labs_dir)
    return inst, lab, note


def running_instance(lab_id: str, instance: str = DEFAULT_INSTANCE) -> LabInstance:
    engine = open_engine()
    with engine.errors(f"finding {lab_id}"), engine.quick():
        return engine.instance(lab_id, instance)


def _check_wait() -> float:
    """Seconds a check waits for another command working on the instance (LABS_CHECK_WAIT, 120)."""
    try:
        return max(0.0, float(os.environ.get("LABS_CHECK_WAIT", "120")))
    except ValueError:
        return 120.0


def check_lab(lab: Lab, instance: str = DEFAULT_INSTANCE, progress: Progress = _quiet):
    """Run the checks of a running instance, holding it: checks restart services, so a check
    must never run during a start, reset or solve of the same instance (nor beside another
    check). Waits up to ``LABS_CHECK_WAIT`` seconds (120) for the holder, saying so, then gives up (exit 6)."""
    from orchestrator.check_runner import run_checks

    key = instance_key(lab.id, instance)
    running_instance(lab.id, instance)  # exit 3 at once when it is not running
    with instance_lock(key, f"check {lab.id}", wait=_check_wait(), on_wait=lambda who: progress(f"waiting for {who} to finish with {key}")):
        # Found again under the lock: a reset meanwhile replaced every container.
        return run_checks(lab, running_instance(lab.id, instance), progress=progress)
