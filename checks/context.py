"""``LabContext``: what a lab's check suite sees of its running instance.

A suite asks for the ``lab`` fixture and uses it to reach services the way a
learner's users would (``lab.http``: a real request through a published
port), to look inside them (``lab.host(service)``: a testinfra host), to read
the instance's random values (``lab.values``), and to prove a fix persists
(``lab.restart(service)``).
"""

from __future__ import annotations

import functools
from pathlib import Path

from checks.http import HttpResult, http_get


class LabContext:
    def __init__(self, client, instance, lab=None, backend: str = "sdk"):
        self.client = client
        self.instance = instance
        self.lab = lab  # the orchestrator.spec.Lab when the folder is known
        self.backend = backend
        self.progress = None  # set by the check runner: a callback for a live line while a check waits

    def wait_for(self, probe, *, what: str, seconds: float, every: float = 1.0):
        """Call ``probe()`` until it returns something truthy or ``seconds`` pass; returns its
        last answer. While it waits, the learner sees a live line ("what… 23 s of 75 s")."""
        import time

        started = time.monotonic()
        while True:
            answer = probe()
            elapsed = time.monotonic() - started
            if answer or elapsed >= seconds:
                return answer
            if self.progress is not None:
                self.progress(f"{what}… {elapsed:.0f} s of {seconds:.0f} s")
            time.sleep(min(every, max(0.0, seconds - elapsed)))

    @property
    def values(self) -> dict[str, str]:
        return self.instance.values

    @property
    def nonce(self) -> str:
        return self.instance.values["nonce"]

    @property
    def lab_dir(self) -> Path:
        return Path(self.instance.folder)

    def container(self, service: str | None = None):
        return self.instance.container(service)

    @functools.cache
    def host(self, service: str | None = None, deadline: float | None = None):
        """A testinfra ``Host`` for a service's container (the main service by default).

        Each command is killed after ``deadline`` seconds (30 by default)."""
        import testinfra

        container = self.container(service)
        if self.backend == "cli":
            return testinfra.get_host(f"docker://{container.name}")
        from testinfra.host import Host

        from checks.backend import DockerSDKBackend

        backend = DockerSDKBackend(container) if deadline is None else DockerSDKBackend(container, deadline=deadline)
        host = Host(backend)
        backend.set_host(host)
        return host

    def port(self, service: str, container_port: int) -> int:
        port = self.instance.published_port(service, container_port)
        if port is None:
            raise AssertionError(f"service {service} publishes no port {container_port} on 127.0.0.1 (is its container running?)")
        return port

    def http(self, service: str, container_port: int, path: str = "/", **kwargs) -> HttpResult:
        """GET ``path`` from the published port of ``service``, as a client outside the lab."""
        return http_get(self.port(service, container_port), path, host=getattr(self.instance, "publish_host", "127.0.0.1"), **kwargs)

    def restart(self, service: str | None = None, timeout: int = 10) -> None:
        """Restart a service's container and wait until its environment is ready again."""
        from orchestrator.engine.readiness import wait_ready
        from orchestrator.spec import Readiness

        service = service or self.instance.main
        container = self.container(service)
        container.restart(timeout=timeout)
        readiness = self.lab.services[service].readiness if self.lab else Readiness()
        wait_ready(container, readiness, service)
