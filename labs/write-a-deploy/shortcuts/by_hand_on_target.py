"""The server built by hand on the lab's own target (shell commands, the try values written in),
with a deploy.py that only pretends: the site answers on `target`, but a fresh host gets
nothing from the deploy."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files, server

DEPLOY = '''"""The orders web server (already set up on target)."""
from pyinfra.operations import files

files.directory(name="Orders config folder", path="/etc/orders", mode="755")
'''

if host.data.service == "workstation":
    files.put(name="A deploy that does almost nothing", src=StringIO(DEPLOY), dest="/workspace/deploy.py", mode="644")

if host.data.service == "target":
    server.shell(name="The server, by hand", commands=[
        "id orders >/dev/null 2>&1 || useradd --system --shell /usr/sbin/nologin orders",
        "mkdir -p /etc/orders /etc/sv/orders /srv/orders",
        f"printf 'port = 8123\\ntoken = {host.data.values['try_token']}\\n' > /etc/orders/orders.conf",
        "printf '<h1>Orders</h1> orders.lab.internal\\n' > /srv/orders/index.html",
        "printf 'server { listen 80; server_name orders.lab.internal; root /srv/orders; location /api/ { proxy_pass http://127.0.0.1:8123; proxy_set_header X-Request-Id $http_x_request_id; } }\\n' > /etc/nginx/sites-enabled/orders",
        "pgrep nginx >/dev/null || nginx",
    ])
