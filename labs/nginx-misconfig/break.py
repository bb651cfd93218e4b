"""Break the orders proxy the way last night's change did (pyinfra deploy).

Two faults at once: a missing semicolon in the proxy-headers snippet (nginx -t
fails, so the restart left nginx down), and the upstream pointing at the wrong
app port (502 once the syntax is fixed). A third: /static/ uses `root` where
`alias` was meant, so the stylesheet 404s.
"""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent / "files"

if host.data.service == "proxy":
    files.directory(name="Static assets folder", path="/srv/orders/static", mode="755")
    files.put(name="Stylesheet", src=str(FILES / "app.css"), dest="/srv/orders/static/app.css", mode="644")
    files.put(name="Proxy headers snippet (broken)", src=str(FILES / "orders-proxy-broken.conf"), dest="/etc/nginx/snippets/orders-proxy.conf", mode="644")
    files.put(name="Orders site (broken)", src=str(FILES / "orders-broken.conf"), dest="/etc/nginx/sites-available/orders", mode="644")
    files.link(name="Enable the orders site", path="/etc/nginx/sites-enabled/orders", target="/etc/nginx/sites-available/orders")
    server.shell(
        name="Restart nginx with the new config (it will not come back)",
        commands=["nginx -s stop 2>/dev/null; nginx -t 2>/dev/null && nginx; true"],
    )
