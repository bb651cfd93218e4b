"""Shortcut (a WRONG fix): hides the forgotten session behind shadow catalog views.

The support session stays open in its transaction, holding its lock on orders. A schema
`shadow` gets views named pg_stat_activity and pg_locks that leave that session out, and the
shop database puts `shadow` before pg_catalog in everyone's search_path: any probe that reads
the catalog unqualified, through the database's search_path, no longer sees the session.
Class: too literal (catalog views read through the learner's search_path).
"""

from pyinfra import host
from pyinfra.operations import server

PSQL = "runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d shop"
SQL = [
    "CREATE SCHEMA IF NOT EXISTS shadow",
    "CREATE OR REPLACE VIEW shadow.pg_stat_activity AS SELECT * FROM pg_catalog.pg_stat_activity WHERE usename IS DISTINCT FROM 'm_kowalski'",
    "CREATE OR REPLACE VIEW shadow.pg_locks AS SELECT * FROM pg_catalog.pg_locks WHERE pid NOT IN "
    "(SELECT pid FROM pg_catalog.pg_stat_activity WHERE usename = 'm_kowalski')",
    "GRANT USAGE ON SCHEMA shadow TO PUBLIC",
    "GRANT SELECT ON ALL TABLES IN SCHEMA shadow TO PUBLIC",
    "ALTER DATABASE shop SET search_path = shadow, pg_catalog, public",
]

if host.data.service == "db":
    server.shell(
        name="Shadow pg_stat_activity and pg_locks for every session of the shop database",
        commands=[f'{PSQL} -c "{statement}"' for statement in SQL],
    )
