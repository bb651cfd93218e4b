"""Point /srv/current at the previous release and stop there: the running app still serves the
release it was started from."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files, server

SCRIPT = """#!/bin/sh
set -eu
live=$(basename "$(readlink /srv/current)")
previous=$(ls -1 /srv/releases | sort | awk -v live="$live" '$0 == live { print prev; exit } { prev = $0 }')
ln -sfn "releases/$previous" /srv/current
"""

if host.data.service == "web":
    files.put(name="Moves the symlink only", src=StringIO(SCRIPT), dest="/workspace/rollback", mode="755")
    server.shell(name="Roll back once", commands=["/workspace/rollback"])
