"""Shortcut (a WRONG fix): forces the planner off sequential scans for the whole database.

The stuck session is ended, both indexes are built and the role's overrides are dropped, and on
top of that `enable_seqscan` is switched off for every session of the shop database. The
statements are fast, but the database now runs with a planner method forced off: every other
query of the shop pays for it, and the next plan that needs a sequential scan gets a terrible one.
Class: too literal (only "does the plan use an index" was asked).
"""

from pyinfra import host
from pyinfra.operations import server

PSQL = "runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d shop"

if host.data.service == "db":
    server.shell(
        name="Index, end the stuck session, drop the role's overrides, force seqscans off",
        commands=[
            f"{PSQL} -c \"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'm_kowalski'\"",
            f"{PSQL} -c 'CREATE INDEX IF NOT EXISTS orders_customer_id_idx ON orders (customer_id)'",
            f"{PSQL} -c 'CREATE INDEX IF NOT EXISTS order_items_order_id_idx ON order_items (order_id)'",
            f"{PSQL} -c 'ALTER ROLE shop_app RESET ALL'",
            f"{PSQL} -c 'ALTER DATABASE shop SET enable_seqscan = off'",
        ],
    )
