"""Break the shop's load balancing the way the last deploy did (pyinfra deploy).

Three faults at once: on web2 a deploy run as root left the shop app's log folder owned
by root, so the app dies at start (PermissionError) and nothing restarts it; HAProxy's
health check asks the node's nginx for a static file, which keeps answering 200 while the
app behind it is dead, so web2 stays in rotation and its nginx answers 502; and web3 is
still marked `backup` from a maintenance window, so it never gets traffic.
"""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent / "files"

if host.data.service == "lb":
    files.put(name="Load balancer config (OPS-881, OPS-902)", src=str(FILES / "haproxy-broken.cfg"), dest="/etc/haproxy/haproxy.cfg", mode="644")
    server.shell(name="Restart HAProxy", commands=["/etc/init.d/haproxy restart >/dev/null 2>&1; true"])

if host.data.service == "web2":
    server.shell(
        name="Redeploy as root: the app's log folder changes hands, the app dies at start",
        commands=[
            "shopfront-ctl stop >/dev/null; sleep 0.3",
            "rm -f /var/log/shopfront/access.log && chown root:root /var/log/shopfront && chmod 755 /var/log/shopfront",
            "shopfront-ctl start >/dev/null 2>&1; true",
        ],
    )
