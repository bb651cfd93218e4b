"""Shortcut: a background loop in the db that terminates the app's idle backends, plus more connections.

max_connections goes to 60 (with a restart) and a shell loop started by hand kills
every idle orders_app backend each second, so the database never looks "full".
The loop lives only until the container restarts, and the app's own pool still
keeps every connection it opened: the bounded-connections objective (and after a
restart, the restart objective) must fail.
"""

from pyinfra import host
from pyinfra.operations import server

REAPER = (
    "while sleep 1; do runuser -u postgres -- psql -XAtq -c "
    "\"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'orders_app' AND state = 'idle'\" >/dev/null 2>&1; done"
)

if host.data.service == "db":
    server.shell(
        name="max_connections = 60 and an idle-connection reaper",
        commands=[
            "sed -i 's/^max_connections = 12$/max_connections = 60/' /etc/postgresql/15/main/conf.d/30-memory.conf",
            "pg_ctlcluster 15 main restart",
            f"setsid sh -c \"{REAPER.replace(chr(34), chr(92) + chr(34))}\" >/dev/null 2>&1 < /dev/null &",
        ],
    )
