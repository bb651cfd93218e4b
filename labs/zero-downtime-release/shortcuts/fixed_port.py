"""A script that always releases to port 8002: the first release works without an error, the next
one finds its own live release in the way."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files

SCRIPT = """#!/bin/sh
set -eu
appctl start "$1" 8002
until appctl health 8002; do sleep 0.1; done
printf 'upstream shop { server 127.0.0.1:8002; }\\n' > /etc/nginx/shop-upstream.conf
nginx -s reload
echo 8002 > /etc/shop/live-port
ln -sfn "releases/$1" /srv/current
sleep 1
appctl stop 8001
"""

if host.data.service == "web":
    files.put(name="Always port 8002", src=StringIO(SCRIPT), dest="/workspace/release", mode="755")
