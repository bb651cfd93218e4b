"""A testinfra backend that runs commands through the Docker SDK instead of the docker CLI.

testinfra's own ``docker://`` backend spawns a local shell and a ``docker``
process for every command, with no timeout. This one makes one exec API call
per command over a shared connection, with a deadline enforced in the
container, and is wired into ``testinfra.host.Host`` by the ``lab`` fixture.
"""

from __future__ import annotations

from typing import Any

from testinfra.backend import base

from orchestrator.engine.client import DEADLINE_EXIT, exec_in

COMMAND_DEADLINE = 30.0


class DockerSDKBackend(base.BaseBackend):
    NAME = "labs-docker"

    def __init__(self, container, *args: Any, deadline: float = COMMAND_DEADLINE, **kwargs: Any):
        self.container = container
        self.deadline = deadline
        super().__init__(container.name, *args, **kwargs)
        # Every lab image is UTF-8; skip testinfra's probe for python's locale.
        self._encoding = "utf-8"

    def run(self, command: str, *args: str, **kwargs: Any) -> base.CommandResult:
        cmd = self.get_command(command, *args)
        result = exec_in(self.container, ["/bin/sh", "-c", cmd], deadline=self.deadline)
        stderr = result.stderr
        if result.exit_code == DEADLINE_EXIT:
            stderr += f"\n(labs: command killed after {self.deadline:g} s)".encode()
        return self.result(result.exit_code, self.encode(cmd), result.stdout, stderr)
