"""Waiting for a lab's environment to be up.

Readiness is the substrate (container running, its init done), never the
service the learner must fix: that one is broken by design. A container that
exits fails the wait at once; a timeout shows the container's last log lines.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from orchestrator.engine.client import exec_in
from orchestrator.errors import Timeout
from orchestrator.spec import Readiness

if TYPE_CHECKING:
    from docker.models.containers import Container

POLL_INTERVAL = 0.05


def _last_logs(container: Container, lines: int = 12) -> str:
    try:
        text = container.logs(tail=lines).decode("utf-8", "replace").rstrip()
    except Exception:
        return "(no logs)"
    return text or "(no logs)"


def wait_ready(container: Container, readiness: Readiness, service: str) -> None:
    deadline = time.monotonic() + readiness.timeout
    while True:
        container.reload()
        if container.status in ("exited", "dead"):
            code = container.attrs.get("State", {}).get("ExitCode")
            raise Timeout(
                f"service {service} ({container.name}) exited with code {code} while starting; last log lines:\n{_last_logs(container)}",
                "the image's init failed: check the service's image and command in lab.yaml",
            )
        if container.status == "running":
            probe = exec_in(container, ["sh", "-c", readiness.command], deadline=max(1.0, min(10.0, readiness.timeout)))
            if probe.exit_code == 0:
                return
        if time.monotonic() > deadline:
            raise Timeout(
                f"service {service} ({container.name}) not ready after {readiness.timeout:g} s (probe: {readiness.command}); last log lines:\n{_last_logs(container)}",
                "raise readiness.timeout in lab.yaml if the machine is slow, or check the image's init",
            )
        time.sleep(POLL_INTERVAL)


def wait_all_ready(pairs: list[tuple[str, Container, Readiness]]) -> None:
    """Wait for every (service, container, readiness) at once; the first failure wins."""
    if len(pairs) == 1:
        service, container, readiness = pairs[0]
        wait_ready(container, readiness, service)
        return
    with ThreadPoolExecutor(max_workers=len(pairs)) as pool:
        futures = [pool.submit(wait_ready, c, r, s) for s, c, r in pairs]
        for future in futures:
            future.result()


def restart_all_ready(pairs: list[tuple[str, Container, Readiness]], stop_timeout: int = 10) -> None:
    """Restart every (service, container) at once, then wait until each is ready again: nothing
    started by hand in any of them survives."""
    if not pairs:
        return
    with ThreadPoolExecutor(max_workers=max(1, len(pairs))) as pool:
        for future in [pool.submit(container.restart, timeout=stop_timeout) for _, container, _ in pairs]:
            future.result()
    wait_all_ready(pairs)
