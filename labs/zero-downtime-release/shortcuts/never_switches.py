"""A script that starts the new release and reports success, but never points nginx at it:
no request fails, and customers still get the old release."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files

SCRIPT = """#!/bin/sh
set -eu
live=$(cat /etc/shop/live-port)
if [ "$live" = 8001 ]; then spare=8002; else spare=8001; fi
appctl stop "$spare" >/dev/null 2>&1 || true
appctl start "$1" "$spare"
until appctl health "$spare"; do sleep 0.1; done
echo "release: $1 is live"
"""

if host.data.service == "web":
    files.put(name="Never switches nginx", src=StringIO(SCRIPT), dest="/workspace/release", mode="755")
