"""A deploy whose nginx answers /api/orders with canned JSON (the token from host data, the
request id echoed by nginx) instead of passing it to the orders app: it looks right, but no
live app signs the request."""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

REFERENCE = (Path(__file__).parent.parent / "files" / "deploy.py").read_text()
DEPLOY = REFERENCE.replace("server_name=SERVER_NAME, port=PORT)", "server_name=SERVER_NAME, port=PORT, token=TOKEN)")
SITE = """server {
    listen 80;
    server_name {{ server_name }};
    root /srv/orders;
    index index.html;
    location /api/ {
        default_type application/json;
        return 200 '{"service": "orders", "token": "{{ token }}", "request_id": "$http_x_request_id", "proof": "", "user": "orders", "orders": []}';
    }
}
"""

if host.data.service == "workstation":
    files.put(name="A deploy with a canned API", src=StringIO(DEPLOY), dest="/workspace/deploy.py", mode="644")
    files.put(name="A site that answers for the app", src=StringIO(SITE), dest="/workspace/files/orders-site.j2", mode="644")
    server.shell(name="Tried on the lab's target", commands=["cd /workspace && pyinfra -y inventory.py deploy.py"])
