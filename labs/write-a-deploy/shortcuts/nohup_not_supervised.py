"""A deploy that starts the app and nginx in the background (nohup, a daemonising nginx) instead
of under runit: guarded so a second run is clean, and the site answers, until the host
restarts and nothing brings them back."""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

REFERENCE = (Path(__file__).parent.parent / "files" / "deploy.py").read_text()
STARTS = {
    "App supervised and running": 'server.shell(name="Start the app", commands=["nohup chpst -u orders:orders python3 -u /opt/orders/orders.py </dev/null >/var/log/orders.log 2>&1 &"], _if=any_changed(app, config, run))',
    "Restart the app on change": "",
    "nginx supervised and running": 'server.shell(name="Start nginx", commands=["nginx"], _if=any_changed(site, enabled, nginx_run))',
    "Reload nginx on change": "",
}
DEPLOY = REFERENCE
for title, replacement in STARTS.items():
    start = DEPLOY.index(f'runit.service(name="{title}"')
    end = DEPLOY.index(")\n", start) + 2
    DEPLOY = DEPLOY[:start] + replacement + "\n" + DEPLOY[end:]

if host.data.service == "workstation":
    files.put(name="A deploy that starts things by hand", src=StringIO(DEPLOY), dest="/workspace/deploy.py", mode="644")
    files.put(name="The site's template", src=str(Path(__file__).parent.parent / "files" / "orders-site.j2"), dest="/workspace/files/orders-site.j2", mode="644")
    server.shell(name="Tried on the lab's target", commands=["cd /workspace && pyinfra -y inventory.py deploy.py"])
