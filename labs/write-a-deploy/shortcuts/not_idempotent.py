"""A deploy that is not idempotent: it enables and starts the services with plain shell commands,
which pyinfra runs (and counts as a change) on every run. It builds the server, but a second
run is never clean."""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

REFERENCE = (Path(__file__).parent.parent / "files" / "deploy.py").read_text()
DEPLOY = REFERENCE
for service, title in (("orders", "App supervised and running"), ("nginx", "nginx supervised and running")):
    line = next(line for line in REFERENCE.splitlines() if line.startswith(f'runit.service(name="{title}"'))
    DEPLOY = DEPLOY.replace(line, f'server.shell(name="{title}", commands=["ln -sfn /etc/sv/{service} /etc/service/{service}", "for i in 1 2 3 4 5 6 7 8 9 10; do sv up {service} 2>/dev/null && break; sleep 1; done"])')

if host.data.service == "workstation":
    files.put(name="A deploy with unguarded shell commands", src=StringIO(DEPLOY), dest="/workspace/deploy.py", mode="644")
    files.put(name="The site's template", src=str(Path(__file__).parent.parent / "files" / "orders-site.j2"), dest="/workspace/files/orders-site.j2", mode="644")
    server.shell(name="Tried on the lab's target", commands=["cd /workspace && pyinfra -y inventory.py deploy.py"])
