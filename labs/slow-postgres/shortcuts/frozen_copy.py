"""Shortcut (a WRONG fix): serves the statements from a frozen, indexed copy of the tables.

The stuck session is ended and the planner overrides are dropped, but the real tables stay
unindexed. A schema `fast` gets a copy of orders and order_items, indexed, and the app's role
reads it first through its search_path: the statements are fast and right today, and never
see an order placed after the copy was taken.
Class: no proof that the real path was taken (a frozen copy in another schema).
"""

from pyinfra import host
from pyinfra.operations import server

PSQL = "runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d shop"
SQL = [
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'm_kowalski'",
    "CREATE SCHEMA fast",
    "CREATE TABLE fast.orders AS TABLE public.orders",
    "CREATE TABLE fast.order_items AS TABLE public.order_items",
    "CREATE INDEX ON fast.orders (customer_id, placed_at)",
    "CREATE INDEX ON fast.order_items (order_id)",
    "ANALYZE fast.orders, fast.order_items",
    "GRANT USAGE ON SCHEMA fast TO shop_app",
    "GRANT SELECT ON ALL TABLES IN SCHEMA fast TO shop_app",
    "ALTER ROLE shop_app RESET ALL",
    "ALTER ROLE shop_app SET search_path = fast, public",
]

if host.data.service == "db":
    server.shell(
        name="Copy orders and their lines into an indexed schema the app reads first",
        commands=[f"{PSQL} -c \"{statement}\"" for statement in SQL],
        _timeout=280,
    )
