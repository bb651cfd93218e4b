"""Shortcut: let replication in with `trust` instead of fixing the password, recreate the slot.

The replica streams again (trust ignores its stale password), but anyone on the
network can now open a replication connection and stream the whole database. The
replication-password objective must fail.
"""

from pyinfra import host
from pyinfra.operations import server

PSQL = "runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1"

if host.data.service == "primary":
    server.shell(
        name="host replication all samenet trust; slot back",
        commands=[
            "echo 'host    replication     all             samenet                 trust' >> /etc/postgresql/15/main/pg_hba.conf",
            f"{PSQL} -c 'SELECT pg_reload_conf()'",
            f"{PSQL} -c \"SELECT pg_create_physical_replication_slot('reporting_1')\"",
        ],
    )
