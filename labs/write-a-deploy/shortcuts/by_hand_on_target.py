"""The server built by hand on the lab's own target (shell commands, the try values written in),
with a deploy.py that only pretends: the site answers on `target`, but a fresh host gets
nothing from the deploy."""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

DEPLOY = '''"""The orders web server (already set up on target)."""
from pyinfra.operations import files

files.directory(name="Orders config folder", path="/etc/orders", mode="755")
'''

if host.data.service == "workstation":
    files.put(name="A deploy that does almost nothing", src=StringIO(DEPLOY), dest="/workspace/deploy.py", mode="644")

if host.data.service == "target":
    files.put(name="The app, copied by hand", src=str(Path(__file__).parent.parent / "files" / "orders.py"), dest="/opt/orders.py", mode="644")
    server.shell(name="The server, by hand", commands=[
        "id orders >/dev/null 2>&1 || useradd --system --shell /usr/sbin/nologin orders",
        "mkdir -p /etc/orders /etc/sv/orders /srv/orders",
        f"printf 'port = 8123\\ntoken = {host.data.values['try_token']}\\n' > /etc/orders/orders.conf",
        "printf '<h1>Orders</h1> orders.lab.internal\\n' > /srv/orders/index.html",
        "printf 'server { listen 80; server_name orders.lab.internal; root /srv/orders; location /api/ { proxy_pass http://127.0.0.1:8123; proxy_set_header X-Request-Id $http_x_request_id; } }\\n' > /etc/nginx/sites-enabled/orders",
        "pgrep -u orders python3 >/dev/null || setsid -f chpst -u orders python3 /opt/orders.py </dev/null >/var/log/orders.log 2>&1",
        "pgrep nginx >/dev/null || nginx",
    ])
