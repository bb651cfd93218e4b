"""Shortcut: raise max_connections to 1000 and restart PostgreSQL; change nothing else.

Enough backends for the rush, so the 50 requests succeed; but the app still keeps
every connection it ever opened, PgBouncer still pins one server connection per
client, and a 256 MB box cannot hold 1000 backends. The connection-limit and
bounded-connections objectives must fail.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "db":
    server.shell(
        name="max_connections = 1000",
        commands=[
            "sed -i 's/^max_connections = 12$/max_connections = 1000/' /etc/postgresql/15/main/conf.d/30-memory.conf",
            "pg_ctlcluster 15 main restart",
        ],
    )
