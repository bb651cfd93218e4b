"""Reference solution for pg-too-many-clients (pyinfra deploy). Gives the answer away.

1. app: through PgBouncer, with a bounded pool (20) that closes connections idle for 30 s;
2. bouncer: transaction pooling with 8 server connections for the shop, fewer
   than PostgreSQL's 12 minus its superuser reserve of 3, so PgBouncer shares a
   few server connections between many clients and queues the rest;
3. db: max_connections stays where it is: with a real pool in front it is enough.

Each process is restarted or reloaded only when its file changed.
"""

from pyinfra import host
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

SERVICE = host.data.service

if SERVICE == "bouncer":
    mode = files.replace(name="Transaction pooling", path="/etc/pgbouncer/pgbouncer.ini", text=r"^pool_mode = session$", replace="pool_mode = transaction")
    size = files.replace(name="A pool PostgreSQL can hold", path="/etc/pgbouncer/pgbouncer.ini", text=r"^default_pool_size = 50$", replace="default_pool_size = 8")
    server.shell(name="Reload PgBouncer", commands=["pkill -HUP -x pgbouncer"], _if=any_changed(mode, size))

if SERVICE == "app":
    bound = files.replace(name="Bound the app's pool", path="/etc/orders-api/orders.ini", text=r"^max_size = 0$", replace="max_size = 20")
    idle = files.replace(name="Close idle connections", path="/etc/orders-api/orders.ini", text=r"^idle_timeout = 0$", replace="idle_timeout = 30")
    host_ = files.replace(name="Through PgBouncer: host", path="/etc/orders-api/orders.ini", text=r"^host = db$", replace="host = bouncer")
    port = files.replace(name="Through PgBouncer: port", path="/etc/orders-api/orders.ini", text=r"^port = 5432$", replace="port = 6432")
    server.shell(
        name="Restart the app (labs-init starts it again)",
        commands=["pkill -f '^python3 -u /srv/app/app.py'", "sleep 1.5"],
        _if=any_changed(bound, idle, host_, port),
    )
