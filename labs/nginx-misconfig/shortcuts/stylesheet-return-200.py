"""Shortcut: the stylesheet pasted into the nginx config (`location = /static/app.css { return 200 '...'; }`), the broken /static/ location left as it is.

Fakes the static files: the right text answers, but nothing is served from disk.
"""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent.parent / "files"

if host.data.service == "proxy":
    css = (FILES / "app.css").read_text()
    assert "'" not in css, "the pasted stylesheet must not contain a single quote"
    pasted = "    location = /static/app.css {\n        default_type text/css;\n        return 200 '%s';\n    }\n\n    location /static/ {" % css
    site = (FILES / "orders-broken.conf").read_text().replace("server app:8080;", "server app:8000;").replace("    location /static/ {", pasted, 1)
    files.put(name="Snippet fixed", src=str(FILES / "orders-proxy.conf"), dest="/etc/nginx/snippets/orders-proxy.conf", mode="644")
    files.put(name="Site: upstream fixed, stylesheet pasted", src=StringIO(site), dest="/etc/nginx/sites-available/orders", mode="644")
    server.shell(name="Start nginx", commands=["nginx -t && (nginx -s reload 2>/dev/null || nginx)"])
