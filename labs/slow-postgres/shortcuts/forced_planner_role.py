"""Shortcut (a WRONG fix): switches sequential scans off on the app's role too.

The stuck session is ended and both indexes are built. The overrides that switch index and
bitmap scans off stay on the app's role, and `enable_seqscan = off` joins them: with every scan
method "disabled", the planner picks the cheapest again, an index scan, so the statements are
fast. Three planner methods are now forced off for the app's role.
Class: too literal (only "does the plan use an index" was asked).
"""

from pyinfra import host
from pyinfra.operations import server

PSQL = "runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d shop"

if host.data.service == "db":
    server.shell(
        name="Index, end the stuck session, and switch seqscans off for the app's role",
        commands=[
            f"{PSQL} -c \"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'm_kowalski'\"",
            f"{PSQL} -c 'CREATE INDEX IF NOT EXISTS orders_customer_id_idx ON orders (customer_id)'",
            f"{PSQL} -c 'CREATE INDEX IF NOT EXISTS order_items_order_id_idx ON order_items (order_id)'",
            f"{PSQL} -c 'ALTER ROLE shop_app SET enable_seqscan = off'",
        ],
    )
