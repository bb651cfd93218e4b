"""pyinfra's ``@docker`` connector, talking to the engine through the Docker SDK.

pyinfra's own docker connector spawns a ``docker`` CLI process for every fact,
command and file copy (about 70 ms each, far more on a busy machine), and
given a stopped container it would start it, then commit and remove it at
disconnect. This subclass keeps its behaviour for running containers and
swaps the transport: one exec API call per command over a shared connection
(with the deadline enforced in the container), ``put_archive`` and
``get_archive`` for files. It never starts, commits or removes a container.
"""

from __future__ import annotations

import io
import posixpath
import tarfile

from pyinfra.api.exceptions import ConnectError
from pyinfra.api.util import get_file_io
from pyinfra.connectors.docker import DockerConnector
from pyinfra.connectors.util import CommandOutput, OutputLine, extract_control_arguments, make_unix_command_for_host

from orchestrator.engine.client import DEADLINE_EXIT, exec_in

DEFAULT_DEADLINE = 120


class SDKDockerConnector(DockerConnector):
    """Runs pyinfra operations in a running lab container through the SDK client in ``host.data.labs_client``."""

    timed_out: str | None = None  # set when a command was killed at its deadline

    def connect(self) -> None:
        from docker.errors import NotFound

        client = self.host.data.labs_client
        name = self.data["docker_identifier"]
        try:
            self.container = client.containers.get(name)
        except NotFound:
            raise ConnectError(f"container {name} does not exist") from None
        if self.container.status != "running":
            raise ConnectError(f"container {name} is {self.container.status}, not running")
        self.container_id = self.container.id
        self.no_stop = True

    def disconnect(self) -> None:
        pass  # the container is the lab's: leave it exactly as it is

    def run_shell_command(self, command, print_output: bool = False, print_input: bool = False, **arguments):
        control = extract_control_arguments(arguments)
        if control.get("_stdin") is not None or control.get("_get_pty"):
            self.local.connect()
            return super().run_shell_command(command, print_output=print_output, print_input=print_input, **arguments, **control)
        unix_command = make_unix_command_for_host(self.state, self.host, command, **arguments)
        deadline = control.get("_timeout") or DEFAULT_DEADLINE
        result = exec_in(self.container, ["sh", "-c", unix_command.get_raw_value()], deadline=deadline)
        if result.exit_code == DEADLINE_EXIT:
            # Raising here would run through gevent's hub, which prints it: record it instead,
            # fail the operation, and let the caller report the timeout.
            self.timed_out = f"a command in {self.container.name} did not finish within {deadline:g} s: {unix_command.get_raw_value()[:120]}"
        lines = [OutputLine("stdout", line) for line in result.stdout.decode("utf-8", "replace").splitlines()]
        lines += [OutputLine("stderr", line) for line in result.stderr.decode("utf-8", "replace").splitlines()]
        success = result.exit_code in (control.get("_success_exit_codes") or [0])
        return success, CommandOutput(lines)

    def put_file(self, filename_or_io, remote_filename, remote_temp_filename=None, print_output=False, print_input=False, **kwargs) -> bool:
        with get_file_io(filename_or_io) as file_io:
            data = file_io.read()
        if isinstance(data, str):
            data = data.encode()
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo(posixpath.basename(remote_filename))
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        if not self.container.put_archive(posixpath.dirname(remote_filename) or "/", archive.getvalue()):
            raise OSError(f"could not copy {remote_filename} into {self.container.name}")
        return True

    def get_file(self, remote_filename, filename_or_io, remote_temp_filename=None, print_output=False, print_input=False, **kwargs) -> bool:
        stream, _ = self.container.get_archive(remote_filename)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.next()
            content = tar.extractfile(member).read() if member is not None else b""
        with get_file_io(filename_or_io, "wb") as file_io:
            file_io.write(content)
        return True
