"""Applying a lab's pyinfra deploys (break.py, solution.py) to its running containers.

pyinfra runs in-process through its ``@docker/<container>`` connector, with the
transport swapped for the SDK (``orchestrator.engine.pyinfra_connector``). Every
container must be running before pyinfra connects: given a stopped container,
pyinfra's own connector would start it and then commit and remove it at
disconnect; ours refuses to connect.

Inside a deploy, ``host.data`` carries ``service`` (the service name),
``values`` (the instance's random values), ``lab_dir`` and ``instance``; each
service is also an inventory group, so ``"proxy" in host.groups`` works too.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import BuildFailed, Timeout
from orchestrator.engine.instances import LabInstance

# Per-command and whole-deploy deadlines, in seconds (LABS_DEPLOY_TIMEOUT overrides the latter).
COMMAND_TIMEOUT = 120
DEPLOY_TIMEOUT = float(os.environ.get("LABS_DEPLOY_TIMEOUT", "300"))


@dataclass
class DeployResult:
    operations: int = 0
    changed: int = 0
    per_service: dict[str, int] = field(default_factory=dict)  # changed operations per service
    changed_ops: list[str] = field(default_factory=list)  # "service: operation name" of each change


# The web face applies the deploys of several instances at once, one per thread. pyinfra keeps
# the state of "the current deploy" in one process-wide slot (pyinfra.context.ctx_state): two
# deploys at once would collect each other's operations. ``_state_per_thread`` gives that slot one
# value per thread (each deploy runs its greenlets in its own thread, so they all see its state).
_SETUP = threading.Lock()
_attached = 0  # deploys capturing pyinfra's log now (its logger is restored when the last ends)
_saved_logger: tuple[bool, int] = (True, logging.NOTSET)


def _state_per_thread() -> None:
    from pyinfra.context import ctx_state

    with _SETUP:
        if not isinstance(ctx_state.context._container, threading.local):

            class _Slot(threading.local):
                module = None

            ctx_state.context._container = _Slot()


def _quiet_interrupts(hub) -> None:
    """Ctrl-C (or SIGTERM) while a command of the deploy runs lands in the greenlet running it;
    gevent's hub would print that greenlet's traceback before passing the interrupt on to the
    command, which rolls back with one message. The interrupt still passes on; only the print goes."""
    if KeyboardInterrupt not in hub.NOT_ERROR:
        hub.NOT_ERROR = (*hub.NOT_ERROR, KeyboardInterrupt)


class _PyinfraLog(logging.Handler):
    """Keeps the lines pyinfra logs for this thread's deploy (it would otherwise print them), for
    the error message."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.logger = logging.getLogger("pyinfra")
        self.thread = threading.get_ident()

    def emit(self, record):
        if record.levelno >= logging.WARNING and record.thread == self.thread:
            self.lines.append(re.sub(r"\x1b\[[0-9;]*m", "", record.getMessage()))

    def tail(self) -> str:
        shown = [line for line in self.lines if line.strip()][-6:]
        return (":\n  " + "\n  ".join(shown)) if shown else ""

    def detach(self):
        global _attached
        with _SETUP:
            self.logger.removeHandler(self)
            _attached -= 1
            if not _attached:
                self.logger.propagate, level = _saved_logger
                self.logger.setLevel(level)


def _raise_if_timed_out(inventory, where: str) -> None:
    for host in inventory:
        late = getattr(getattr(host, "connector", None), "timed_out", None)
        if late:
            raise Timeout(f"{where}: {late}", "run that command by hand in `labs shell` to see why it hangs")


def _capture_pyinfra_log() -> _PyinfraLog:
    global _attached, _saved_logger
    handler = _PyinfraLog()
    with _SETUP:
        if not _attached:
            _saved_logger = (handler.logger.propagate, handler.logger.level)
        _attached += 1
        handler.logger.addHandler(handler)
        handler.logger.propagate = False
        handler.logger.setLevel(logging.INFO)
    return handler


class _DeployCodeError(Exception):
    """The deploy file itself raised while its operations were being collected."""


def _load_deploy(state, deploy: Path) -> None:
    """Execute the deploy file once per host, collecting its operations (as pyinfra's CLI does).

    pyinfra's CLI module is not imported: it monkey-patches the whole process for gevent.
    """
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.context import ctx_config, ctx_host

    code = compile(deploy.read_text(encoding="utf-8"), str(deploy), "exec")
    state.current_deploy_filename = str(deploy)
    state.current_exec_filename = str(deploy)
    for host in state.inventory.get_active_hosts():
        with ctx_config.use(state.config.copy()), ctx_host.use(host):
            try:
                exec(code, {"__file__": str(deploy), "__name__": "__deploy__"})
            except PyinfraError:
                raise
            except Exception as err:
                raise _DeployCodeError() from err


def _op_name(state, op_hash: str) -> str:
    """An operation's name as the deploy gave it (``name=``), or pyinfra's description of it."""
    meta = state.op_meta.get(op_hash)
    names = sorted(getattr(meta, "names", None) or [])
    return ", ".join(names) if names else "an unnamed operation"


def apply_deploy(instance: LabInstance, deploy: Path, *, timeout: float = DEPLOY_TIMEOUT) -> DeployResult:
    """Run the pyinfra deploy file ``deploy`` against every container of ``instance``."""
    import gevent
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.connect import connect_all, disconnect_all
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.api.operations import run_ops
    from pyinfra.api.state import StateStage
    from pyinfra.context import ctx_state

    not_running = instance.missing + instance.not_running
    if not_running:
        raise BuildFailed(
            f"cannot apply {deploy.name} to {instance.key}: service(s) {', '.join(not_running)} not running",
            f"`labs reset {instance.lab_id}` recreates them",
        )
    from orchestrator.engine.pyinfra_connector import SDKDockerConnector

    hosts, groups = [], {}
    for service, container in instance.containers.items():
        name = f"@docker/{container.name}"
        hosts.append((name, {
            "service": service,
            "values": dict(instance.values),
            "lab_dir": instance.folder,
            "instance": instance.key,
            "labs_client": container.client,  # the engine that runs it (a node's own, on a swarm)
            "_timeout": int(min(COMMAND_TIMEOUT, timeout)) or 1,
        }))
        groups[service] = ([name], {})
    inventory = Inventory((hosts, {}), **groups)
    for host in inventory:
        host.connector_cls = SDKDockerConnector  # pyinfra's docker connector over the SDK
    # No prepare-time change detection: it runs every fact twice; changes are counted from
    # what actually executed.
    state = State(inventory, Config(), check_for_changes=False)
    _state_per_thread()
    _quiet_interrupts(gevent.get_hub())
    ctx_state.set(state)
    where = f"{deploy.name} of lab {instance.lab_id}"
    log = _capture_pyinfra_log()
    try:
        with gevent.Timeout(timeout, Timeout(f"{where} did not finish within {timeout:g} s", "a command in the deploy hangs; run it by hand in `labs shell` to see why")):
            state.set_stage(StateStage.Connect)
            connect_all(state)
            for host in inventory:
                # Never let the connector commit and remove a lab container.
                if getattr(host, "connector", None) is not None:
                    host.connector.no_stop = True
            if state.failed_hosts:
                raise BuildFailed(f"{where}: could not connect to {', '.join(h.name for h in state.failed_hosts)}", "check the containers with `labs status`")
            state.set_stage(StateStage.Prepare)
            _load_deploy(state, deploy)
            state.set_stage(StateStage.Execute)
            run_ops(state)
    except _DeployCodeError as err:
        cause = err.__cause__
        raise BuildFailed(f"{where} raised {type(cause).__name__}: {cause}", f"fix {deploy}") from None
    except PyinfraError as err:
        _raise_if_timed_out(inventory, where)
        raise BuildFailed(f"{where} failed: {err}{log.tail()}", f"fix {deploy}; run it by hand with `labs shell` to see the command's output") from None
    finally:
        log.detach()
        try:
            disconnect_all(state)
        except Exception:
            pass
    _raise_if_timed_out(inventory, where)
    failed = [h.name for h in inventory if state.get_results_for_host(h).error_ops]
    if failed or state.failed_hosts:
        names = failed or [h.name for h in state.failed_hosts]
        raise BuildFailed(f"{where} failed on {', '.join(names)}{log.tail()}", f"an operation in {deploy} failed; run its command in `labs shell` to see why")
    result = DeployResult()
    for host in inventory:
        # Count what really ran: an operation changed something when it executed commands.
        ops = state.ops[host]
        metas = [op.operation_meta for op in ops.values()]
        changed = sum(1 for meta in metas if meta.is_complete() and meta.did_change())
        result.changed_ops += [
            f"{host.data.service}: {_op_name(state, op_hash)}"
            for op_hash, op in ops.items() if op.operation_meta.is_complete() and op.operation_meta.did_change()
        ]
        result.operations += len(metas)
        result.changed += changed
        result.per_service[host.data.service] = changed
    return result
