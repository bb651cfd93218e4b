"""Shortcut: stop and disable the importer's runit service, and kill it.

The first starter is gone, but the watchdog loop started at boot by cron notices within two
seconds and starts another copy. Must fail.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "web":
    server.shell(
        name="Disable the runit service",
        commands=["touch /etc/sv/feed-sync/down", "sv -w 20 force-stop /etc/service/feed-sync || true", "pkill -9 -f '[f]eed-sync[.]py' || true"],
    )
