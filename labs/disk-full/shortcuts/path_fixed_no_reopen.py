"""Shortcut: free the space and fix the rotation's path and schedule, but keep `create`.

Everything looks fine today; at the next rotation the service keeps writing to the renamed
file, which a later rotation deletes while it is still open: the incident again. Must fail:
the rotation must leave the service writing to a fresh file.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "files":
    server.shell(
        name="Restart the shipper, empty the log, fix the path, start cron",
        commands=[
            "sv restart /etc/service/shipper",
            ": > /srv/data/log/uploads.log",
            "sed -i 's#/srv/data/logs/#/srv/data/log/#' /etc/logrotate.d/uploads",
            "ln -sfn /etc/sv/cron /etc/service/cron",
        ],
    )
