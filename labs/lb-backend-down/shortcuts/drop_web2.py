"""Shortcut: take the broken node out of the pool instead of repairing it.

web2's server line is removed (and the health check and web3 are fixed): no more 502s,
but web2, and a third of the capacity, never serves anyone.
"""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

if host.data.service == "lb":
    fixed = (Path(__file__).parent.parent / "files" / "haproxy.cfg").read_text()
    from io import StringIO

    files.put(name="Pool without web2", src=StringIO(fixed.replace("    server web2 web2:80\n", "")), dest="/etc/haproxy/haproxy.cfg")
    server.shell(name="Reload HAProxy", commands=["/etc/init.d/haproxy reload"])
