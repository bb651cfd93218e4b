"""Prepare the workstation as the ticket finds it: the notes service's sources and the
platform's README in /workspace, and no Dockerfile yet."""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files

FILES = Path(__file__).parent / "files"

if host.data.service == "workstation":
    files.directory(name="The learner's workspace", path="/workspace", mode="755")
    files.put(name="The notes service", src=str(FILES / "app.py"), dest="/workspace/app.py", mode="644")
    files.put(name="The platform's README", src=str(FILES / "README"), dest="/workspace/README", mode="644")
