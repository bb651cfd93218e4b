"""Shortcut: a copy of the stylesheet (same content, same timestamp) put where the wrong `root` looks, instead of fixing the /static/ location.

Fakes the static mapping: today's stylesheet answers, but any other or newer static file would
not be served.
"""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent.parent / "files"

if host.data.service == "proxy":
    site = (FILES / "orders.conf").read_text().replace("alias /srv/orders/static/;", "root /srv/orders/static;")
    files.put(name="Snippet fixed", src=str(FILES / "orders-proxy.conf"), dest="/etc/nginx/snippets/orders-proxy.conf", mode="644")
    files.put(name="Site: upstream fixed, root kept", src=StringIO(site), dest="/etc/nginx/sites-available/orders", mode="644")
    server.shell(name="A copy where root looks", commands=[
        "mkdir -p /srv/orders/static/static && cp -p /srv/orders/static/app.css /srv/orders/static/static/app.css",
    ])
    server.shell(name="Start nginx", commands=["nginx -t && (nginx -s reload 2>/dev/null || nginx)"])
