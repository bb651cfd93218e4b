"""Shortcut: keep a server called web2 in the pool, but send its traffic to web1.

Every request succeeds and the balancer shows three servers UP, yet web2's own app
never serves anything: answers name web1.
"""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

if host.data.service == "lb":
    fixed = (Path(__file__).parent.parent / "files" / "haproxy.cfg").read_text()
    files.put(name="web2 is really web1", src=StringIO(fixed.replace("server web2 web2:80", "server web2 web1:80")), dest="/etc/haproxy/haproxy.cfg")
    server.shell(name="Reload HAProxy", commands=["/etc/init.d/haproxy reload"])
