"""Shortcut: stop the log shipper for good and empty the live log.

Frees the space (the shipper held the deleted file), but log shipping is gone and rotation
is still broken. Must fail: the shipper keeps shipping, and rotation must work.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "files":
    server.shell(
        name="Stop the shipper, empty the log",
        commands=["touch /etc/sv/shipper/down", "sv down /etc/service/shipper", ": > /srv/data/log/uploads.log"],
    )
