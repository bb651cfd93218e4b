"""Blue/green almost: the new release is warmed on the spare port, but the old one is stopped
before nginx is switched to the new one, so requests in between fail."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files

SCRIPT = """#!/bin/sh
set -eu
live=$(cat /etc/shop/live-port)
if [ "$live" = 8001 ]; then spare=8002; else spare=8001; fi
appctl start "$1" "$spare"
until appctl health "$spare"; do sleep 0.1; done
appctl stop "$live"
sleep 1
printf 'upstream shop { server 127.0.0.1:%s; }\\n' "$spare" > /etc/nginx/shop-upstream.conf
nginx -s reload
echo "$spare" > /etc/shop/live-port
ln -sfn "releases/$1" /srv/current
"""

if host.data.service == "web":
    files.put(name="Stops the old release too early", src=StringIO(SCRIPT), dest="/workspace/release", mode="755")
