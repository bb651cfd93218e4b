"""Shortcut: stop the runit service and kill the watchdog loop, but leave cron's @reboot line.

Everything is quiet until the next restart of the host, when cron starts the watchdog again
and the watchdog starts the importer. Must fail: it must stay gone after a restart.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "web":
    server.shell(
        name="Kill the watchdog, disable the service, kill the importer",
        commands=[
            "pkill -f '[f]eed-sync-watchdog' || true",
            "touch /etc/sv/feed-sync/down",
            "sv -w 20 force-stop /etc/service/feed-sync || true",
            "pkill -9 -f '[f]eed-sync[.]py' || true",
        ],
    )
