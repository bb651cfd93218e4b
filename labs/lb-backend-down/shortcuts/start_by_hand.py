"""Shortcut: start web2's app by hand as root instead of fixing why it dies.

As root the app can write the root-owned log folder, so it runs, until the next
restart, when it is started as `shop` again and dies again. Its output goes nowhere the
engine sees.
"""

from pathlib import Path
from io import StringIO

from pyinfra import host
from pyinfra.operations import files, server

if host.data.service == "lb":
    fixed = (Path(__file__).parent.parent / "files" / "haproxy.cfg").read_text()
    files.put(name="Fixed balancer config", src=StringIO(fixed), dest="/etc/haproxy/haproxy.cfg")
    server.shell(name="Reload HAProxy", commands=["/etc/init.d/haproxy reload"])

if host.data.service == "web2":
    server.shell(
        name="Run the app as root in the background",
        commands=["cd /srv/shopfront && SHOP_NODE=web2 setsid nohup python3 -u /srv/shopfront/app.py >/dev/null 2>&1 < /dev/null & sleep 1"],
    )
