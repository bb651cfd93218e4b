"""Reference solution for pg-replica-lag (pyinfra deploy). Gives the answer away.

On the primary: allow replication connections for the replication role in
pg_hba.conf (then reload), and recreate the replica's physical slot. On the
replica: give primary_conninfo the rotated password (ALTER SYSTEM, which
writes postgresql.auto.conf, then reload: primary_conninfo is reloadable).

Each step first asks whether it is needed (a fact) and runs only then, so a
second run changes nothing.
"""

from pyinfra import host
from pyinfra.facts.server import Command
from pyinfra.operations import files, server

SLOT = "reporting_1"
PSQL = "runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1"
HBA = "/etc/postgresql/15/main/pg_hba.conf"

if host.data.service == "primary":
    hba = files.line(
        name="pg_hba.conf: replication connections for the replication role, with its password",
        path=HBA,
        line="host    replication     replicator      samenet                 scram-sha-256",
    )
    server.shell(name="Reload the primary", commands=[f"{PSQL} -c 'SELECT pg_reload_conf()'"], _if=hba.did_change)
    slots = (host.get_fact(Command, command=f"{PSQL} -c \"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{SLOT}'\"") or "0").strip()
    server.shell(
        name=f"Recreate the physical slot {SLOT}",
        commands=[f"{PSQL} -c \"SELECT pg_create_physical_replication_slot('{SLOT}')\""],
        _if=lambda: slots == "0",
    )

if host.data.service == "replica":
    password = host.data.values["replication_password"]
    conninfo = f"host=primary port=5432 user=replicator password={password} application_name=reporting"
    current = (host.get_fact(Command, command=f"{PSQL} -c 'SHOW primary_conninfo'") or "").strip()
    server.shell(
        name="primary_conninfo with the rotated password (postgresql.auto.conf), then reload",
        commands=[
            f"{PSQL} -c \"ALTER SYSTEM SET primary_conninfo = '{conninfo}'\"",
            f"{PSQL} -c 'SELECT pg_reload_conf()'",
        ],
        _if=lambda: f"password={password}" not in current.split(),
    )
