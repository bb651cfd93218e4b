"""Shortcut (a WRONG fix): a hand-started nginx with a private, fixed configuration.

The files stay in the web root and the site on disk stays as it was. The running nginx is
stopped and a new one started by hand from a configuration kept in /root that serves only
static/ and passes the rest to the app. Requests look fine until the web container restarts:
then nginx starts from its real configuration and serves the files again.
Class: persistence proven on one service (a fix that lives only in a hand-started process).
"""

import io

from pyinfra import host
from pyinfra.operations import files, server

CONF = """\
user www-data;
pid /run/nginx-private.pid;
events {}
http {
    include /etc/nginx/mime.types;
    server {
        listen 80 default_server;
        resolver 127.0.0.11 valid=10s ipv6=off;
        set $stockroom_app http://app:8000;
        location /static/ { alias /srv/stockroom/static/; }
        location / { proxy_pass $stockroom_app; }
    }
}
"""

if host.data.service == "web":
    files.put(name="A private nginx configuration", src=io.StringIO(CONF), dest="/root/nginx-private.conf", mode="600")
    server.shell(
        name="Stop nginx and start one by hand on the private configuration",
        commands=["nginx -t -q -c /root/nginx-private.conf", "nginx -s quit; sleep 1; nginx -c /root/nginx-private.conf"],
    )
