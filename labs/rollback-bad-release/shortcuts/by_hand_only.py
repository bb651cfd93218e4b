"""Start v41 by hand in place of v42, leaving /srv/current on v42: the shop works until the next
restart brings v42 back."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files, server

SCRIPT = """#!/bin/sh
set -eu
port=$(cat /etc/shop/live-port)
appctl stop "$port"
WARMUP=0 appctl start 2026-11-15-v41 "$port"
"""

if host.data.service == "web":
    files.put(name="Restarts an old release by hand", src=StringIO(SCRIPT), dest="/workspace/rollback", mode="755")
    server.shell(name="Roll back once", commands=["/workspace/rollback"])
