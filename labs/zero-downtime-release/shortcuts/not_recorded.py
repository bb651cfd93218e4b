"""A flawless switch that records nothing: /srv/current and /etc/shop/live-port still name the old
release, so the next boot brings it back (and nginx points at a port nobody serves)."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files

SCRIPT = """#!/bin/sh
set -eu
live=$(grep -o '[0-9]*;' /etc/nginx/shop-upstream.conf | tr -d ';')
if [ "$live" = 8001 ]; then spare=8002; else spare=8001; fi
appctl stop "$spare" >/dev/null 2>&1 || true
appctl start "$1" "$spare"
until appctl health "$spare"; do sleep 0.1; done
printf 'upstream shop { server 127.0.0.1:%s; }\\n' "$spare" > /etc/nginx/shop-upstream.conf
nginx -s reload
sleep 1
appctl stop "$live"
"""

if host.data.service == "web":
    files.put(name="Switches but records nothing", src=StringIO(SCRIPT), dest="/workspace/release", mode="755")
