"""Reference solution for lb-backend-down (pyinfra deploy). Gives the answer away.

web2: the log folder belongs to the app's user again, and the app is started. lb: the
health check asks the app (/healthz through the node's nginx) and web3 is a regular
server again. Idempotent: the restart and the start run only when something changed.
"""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

FILES = Path(__file__).parent / "files"

if host.data.service == "lb":
    config = files.put(name="Health check on the app, web3 back in rotation", src=str(FILES / "haproxy.cfg"), dest="/etc/haproxy/haproxy.cfg", mode="644")
    server.shell(
        name="Validate, then reload HAProxy",
        commands=["haproxy -c -q -f /etc/haproxy/haproxy.cfg", "/etc/init.d/haproxy reload || /etc/init.d/haproxy start"],
        _if=any_changed(config),
    )

if host.data.service == "web2":
    folder = files.directory(name="The app's log folder belongs to the app", path="/var/log/shopfront", user="shop", group="shop", mode="755")
    server.shell(name="Start the shop app", commands=["shopfront-ctl start"], _if=any_changed(folder))
