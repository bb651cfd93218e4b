"""Shortcut: stream without a slot (drop primary_slot_name on the replica) instead of recreating it.

pg_hba and the password are repaired properly and the replica streams, but nothing
on the primary keeps the WAL it has not received: the next long disconnect breaks it
for good. The streaming-through-a-slot objective must fail.
"""

from pyinfra import host
from pyinfra.operations import server

PSQL = "runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1"

if host.data.service == "primary":
    server.shell(
        name="pg_hba.conf: replication for the replication role",
        commands=[
            "echo 'host    replication     replicator      samenet                 scram-sha-256' >> /etc/postgresql/15/main/pg_hba.conf",
            f"{PSQL} -c 'SELECT pg_reload_conf()'",
        ],
    )

if host.data.service == "replica":
    password = host.data.values["replication_password"]
    server.shell(
        name="New password, no slot",
        commands=[
            f"{PSQL} -c \"ALTER SYSTEM SET primary_conninfo = 'host=primary user=replicator password={password}'\"",
            f"{PSQL} -c 'ALTER SYSTEM RESET primary_slot_name'",
            f"{PSQL} -c 'SELECT pg_reload_conf()'",
        ],
    )
