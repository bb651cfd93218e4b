"""Shortcut: replicate as the postgres superuser instead of the replication role.

The replica gets the superuser's credentials in its primary_conninfo and pg_hba lets
postgres replicate; the slot is recreated. It streams, but a superuser password now
sits on the replica host and the stream runs with every privilege. The
streaming objective must fail (it names the superuser).
"""

from pyinfra import host
from pyinfra.operations import server

PSQL = "runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1"

if host.data.service == "primary":
    server.shell(
        name="Replication for postgres; slot back",
        commands=[
            "echo 'host    replication     postgres        samenet                 scram-sha-256' >> /etc/postgresql/15/main/pg_hba.conf",
            f"{PSQL} -c 'SELECT pg_reload_conf()'",
            f"{PSQL} -c \"SELECT pg_create_physical_replication_slot('reporting_1')\"",
        ],
    )

if host.data.service == "replica":
    admin = host.data.values["admin_password"]
    server.shell(
        name="Replicate as postgres",
        commands=[
            f"{PSQL} -c \"ALTER SYSTEM SET primary_conninfo = 'host=primary user=postgres password={admin}'\"",
            f"{PSQL} -c 'SELECT pg_reload_conf()'",
        ],
    )
