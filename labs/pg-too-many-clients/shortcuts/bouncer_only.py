"""Shortcut: put PgBouncer in front and fix it (transaction mode, a pool PostgreSQL can hold), leave the app's pool unbounded.

The rush succeeds and PostgreSQL sees a handful of backends, but the app's pool
still opens a connection per concurrent request and keeps all of them forever:
the app ends the rush holding ~50 idle connections to PgBouncer. The
bounded-connections objective must fail.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "bouncer":
    server.shell(
        name="Transaction pooling with 8 server connections, reload",
        commands=[
            "sed -i -e 's/^pool_mode = session$/pool_mode = transaction/' -e 's/^default_pool_size = 50$/default_pool_size = 8/' /etc/pgbouncer/pgbouncer.ini",
            "pkill -HUP -x pgbouncer",
        ],
    )

if host.data.service == "app":
    server.shell(
        name="The app through PgBouncer",
        commands=[
            "sed -i -e 's/^host = db$/host = bouncer/' -e 's/^port = 5432$/port = 6432/' /etc/orders-api/orders.ini",
            "pkill -f '^python3 -u /srv/app/app.py'; sleep 1.5",
        ],
    )
