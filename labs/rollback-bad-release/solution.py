"""The reference build: a rollback script that picks the release before the live one by the
layout's order and deploys it with the team's own tool; then one rollback of today's release.
Idempotent: the rollback runs only when the script is first installed."""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

FILES = Path(__file__).parent / "files"

if host.data.service == "web":
    script = files.put(name="The rollback script", src=str(FILES / "rollback"), dest="/workspace/rollback", mode="755")
    server.shell(name="Roll back today's release", commands=["/workspace/rollback"], _if=any_changed(script))
