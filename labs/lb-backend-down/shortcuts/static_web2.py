"""Shortcut: make web2's nginx answer the shop page itself, without the app.

nginx returns a canned JSON page naming web2, with the shop token copied from the
node's environment and the caller's trace id echoed back, and a static /healthz: it
looks like the app, but the app never runs, so nothing is in its log.
"""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

if host.data.service == "lb":
    fixed = (Path(__file__).parent.parent / "files" / "haproxy.cfg").read_text()
    files.put(name="Fixed balancer config", src=StringIO(fixed), dest="/etc/haproxy/haproxy.cfg")
    server.shell(name="Reload HAProxy", commands=["/etc/init.d/haproxy reload"])

if host.data.service == "web2":
    token = host.data.values["shop_token"]
    site = (
        "server {\n    listen 80 default_server;\n"
        "    location = /healthz { return 200 'ok\\n'; }\n"
        f"    location / {{ default_type application/json; return 200 '{{\"node\": \"web2\", \"shop\": \"{token}\", \"trace\": \"$http_x_trace_id\"}}\\n'; }}\n"
        "}\n"
    )
    files.put(name="Canned shop page", src=StringIO(site), dest="/etc/nginx/sites-enabled/shopfront")
    server.shell(name="Reload nginx", commands=["nginx -t && nginx -s reload"])
