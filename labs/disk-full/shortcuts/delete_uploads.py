"""Shortcut: make room by deleting old uploads and emptying the log, then fix rotation's path.

Customers' files are gone and the deleted-but-open file still holds its space; rotation
still creates a new file the service never reopens. Must fail.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "files":
    server.shell(
        name="Delete old uploads, empty the log, point logrotate at the real folder",
        commands=[
            "rm -f /srv/data/uploads/invoice-*",
            ": > /srv/data/log/uploads.log",
            "sed -i 's#/srv/data/logs/#/srv/data/log/#' /etc/logrotate.d/uploads",
        ],
    )
