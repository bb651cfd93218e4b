"""Break the orders proxy the way last night's change did (pyinfra deploy).

Two faults at once: a missing semicolon in the proxy-headers snippet (nginx -t
fails, so the restart left nginx down), and the upstream pointing at the wrong
app port (502 once the syntax is fixed). A third: /static/ uses `root` where
`alias` was meant, so the stylesheet 404s. nginx is left really down: no master process,
no pid file.
"""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent / "files"

if host.data.service == "proxy":
    # Last night's restart: nginx went down (before the new files: `nginx -s stop` parses the
    # config, so it must run while the config is still the good one) and never came back.
    # Nothing of the old master may survive, not even its pid file.
    server.shell(
        name="Stop the running nginx, for good",
        commands=[
            "nginx -s stop 2>/dev/null || true; "
            "for i in $(seq 50); do pgrep -x nginx >/dev/null || break; sleep 0.1; done; "
            "pkill -KILL -x nginx 2>/dev/null || true; rm -f /run/nginx.pid"
        ],
    )
    files.directory(name="Static assets folder", path="/srv/orders/static", mode="755")
    files.put(name="Stylesheet", src=str(FILES / "app.css"), dest="/srv/orders/static/app.css", mode="644")
    files.put(name="Proxy headers snippet (broken)", src=str(FILES / "orders-proxy-broken.conf"), dest="/etc/nginx/snippets/orders-proxy.conf", mode="644")
    files.put(name="Orders site (broken)", src=str(FILES / "orders-broken.conf"), dest="/etc/nginx/sites-available/orders", mode="644")
    files.link(name="Enable the orders site", path="/etc/nginx/sites-enabled/orders", target="/etc/nginx/sites-available/orders")
    server.shell(
        name="Start nginx with the new config (it will not come back)",
        commands=["nginx -t 2>/dev/null && nginx; true"],
    )
