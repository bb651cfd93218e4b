"""Shortcut: a second copy of the app started by hand in the app container on port 8080, where the broken upstream points, printing into the app's own log; the upstream stays wrong.

Fakes persistence on one service: everything works until every container restarts (the checks
used to restart the proxy only).
"""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent.parent / "files"

if host.data.service == "app":
    server.shell(
        name="Start a copy of the app on 8080, by hand",
        commands=["APP_PORT=8080 setsid runuser -u app -- python3 -u /srv/app/app.py </dev/null >/proc/1/fd/1 2>&1 &"],
    )

if host.data.service == "proxy":
    site = (FILES / "orders.conf").read_text().replace("server app:8000;", "server app:8080;")
    files.put(name="Snippet fixed", src=str(FILES / "orders-proxy.conf"), dest="/etc/nginx/snippets/orders-proxy.conf", mode="644")
    files.put(name="Site: alias fixed, upstream still on 8080", src=StringIO(site), dest="/etc/nginx/sites-available/orders", mode="644")
    server.shell(name="Start nginx", commands=["nginx -t && (nginx -s reload 2>/dev/null || nginx)"])
