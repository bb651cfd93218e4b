"""Reference solution for slow-postgres (pyinfra deploy). Gives the answer away.

Each step first asks PostgreSQL whether it is needed (a fact, read when the
deploy is prepared) and runs only then (``_if=``), so a second run changes nothing:

1. end the forgotten support session (idle in transaction, holding locks on
   the shop's tables), which rolls back its uncommitted UPDATE;
2. index the columns the statement endpoint filters on, CONCURRENTLY as one
   would in production, unless a valid index already leads with that column;
3. drop the planner overrides attached to the app's role.
"""

from pyinfra import host
from pyinfra.facts.server import Command
from pyinfra.operations import server

PSQL = "runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -d shop"

STUCK_SESSIONS = """
SELECT DISTINCT a.pid FROM pg_stat_activity a
JOIN pg_locks l ON l.pid = a.pid AND l.relation IS NOT NULL
JOIN pg_class c ON c.oid = l.relation
WHERE a.datname = 'shop' AND a.pid <> pg_backend_pid()
  AND a.state LIKE 'idle in transaction%' AND c.relname IN ('customers', 'orders', 'order_items')
"""

# table, column, index name: the statement filters orders by customer and lines by order.
INDEXES = [
    ("orders", "customer_id", "orders_customer_id_idx"),
    ("order_items", "order_id", "order_items_order_id_idx"),
]

ROLE_OVERRIDES = """
SELECT count(*) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
CROSS JOIN LATERAL unnest(s.setconfig) AS c(setting)
WHERE r.rolname = 'shop_app' AND s.setdatabase = 0 AND split_part(c.setting, '=', 1) IN ('enable_indexscan', 'enable_bitmapscan')
"""


def sql(query: str) -> str:
    """A psql command line running ``query`` (double quotes are not used in the queries)."""
    return f'{PSQL} -c "{" ".join(query.split())}"'


def leading_index(table: str, column: str) -> str:
    """SQL counting valid indexes of ``table`` whose first key column is ``column``."""
    return (
        f"SELECT count(*) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
        f"WHERE i.indrelid = '{table}'::regclass AND i.indisvalid AND a.attname = '{column}'"
    )


if host.data.service == "db":
    stuck = (host.get_fact(Command, command=sql(STUCK_SESSIONS)) or "").split()
    server.shell(
        name=f"End the forgotten transaction(s) holding locks on the shop's tables ({', '.join(stuck) or 'none left'})",
        commands=[sql(f"SELECT pg_terminate_backend(pid) FROM unnest('{{{','.join(stuck) or '0'}}}'::int[]) AS pid")],
        _if=lambda: bool(stuck),
    )

    for table, column, index in INDEXES:
        found = (host.get_fact(Command, command=sql(leading_index(table, column))) or "0").strip()
        server.shell(
            name=f"Index {table}.{column}",
            commands=[
                # A failed CONCURRENTLY build leaves an invalid index behind: drop it first.
                sql(f"DROP INDEX CONCURRENTLY IF EXISTS {index}"),
                sql(f"CREATE INDEX CONCURRENTLY {index} ON {table} ({column})"),
            ],
            _if=lambda found=found: found == "0",
            _timeout=280,  # a table of 1.2 M rows on a busy machine
        )

    overrides = (host.get_fact(Command, command=sql(ROLE_OVERRIDES)) or "0").strip()
    server.shell(
        name="Remove the planner overrides from the app's role",
        commands=[
            sql("ALTER ROLE shop_app RESET enable_indexscan"),
            sql("ALTER ROLE shop_app RESET enable_bitmapscan"),
        ],
        _if=lambda: overrides != "0",
    )
