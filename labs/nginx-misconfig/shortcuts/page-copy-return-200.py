"""Shortcut: nginx answers / with a saved copy of the app's page (`return 200`) and serves the stylesheet itself; no request ever reaches the app.

Fakes the real path: the page carries this instance's nonce, but not the answer to a fresh probe,
and the app never sees the request.
"""

import hashlib
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent.parent / "files"

if host.data.service == "proxy":
    nonce = host.data.values["nonce"]
    saved = hashlib.sha256(f"{nonce}:saved".encode()).hexdigest()[:16]
    page = (
        "<!doctype html><html><head><title>Orders</title><link rel=stylesheet href=/static/app.css></head><body>"
        f"<h1>Orders dashboard</h1><p>instance: <code id=instance>{nonce}</code></p>"
        f"<p>probe-answer: <code id=probe>{saved}</code></p></body></html>"
    )
    site = (
        "server {\n    listen 80 default_server;\n"
        f"    location = / {{ default_type text/html; return 200 '{page}'; }}\n"
        "    location /static/ { alias /srv/orders/static/; }\n}\n"
    )
    files.put(name="Snippet fixed", src=str(FILES / "orders-proxy.conf"), dest="/etc/nginx/snippets/orders-proxy.conf", mode="644")
    files.put(name="A site that answers with a saved page", src=StringIO(site), dest="/etc/nginx/sites-available/orders", mode="644")
    server.shell(name="Start nginx", commands=["nginx -t && (nginx -s reload 2>/dev/null || nginx)"])
