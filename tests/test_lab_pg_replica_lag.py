"""The pg-replica-lag lab end to end on the real engine, through the real `labs` command.

Broken → the row never reaches the replica and nothing streams → the reference
solution passes and is idempotent; two other valid repairs (re-cloning the
replica with pg_basebackup -C; the rotated password in the replica's ~/.pgpass)
pass; every shortcut fails.
"""

from __future__ import annotations

import json

import pytest
from lab_driver import LabDriver

pytestmark = pytest.mark.docker

LAB = "pg-replica-lag"
PSQL = "runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1"
HBA_LINE = "echo 'host replication replicator samenet scram-sha-256' >> /etc/postgresql/15/main/pg_hba.conf && " + PSQL + " -c 'SELECT pg_reload_conf()'"


@pytest.fixture
def flow(labs, lab_instance, instance_name):
    return LabDriver(labs, LAB, instance_name, lab_instance)


def _rotated_password(engine, name: str) -> str:
    networks = engine.networks.list(filters={"label": [f"io.labs.instance={LAB}.{name}"]})
    assert len(networks) == 1
    return json.loads(networks[0].attrs["Labels"]["io.labs.values"])["replication_password"]


def test_recloning_the_replica_passes(flow, engine, instance_name):
    flow.start()
    password = _rotated_password(engine, instance_name)
    flow.shell("primary", HBA_LINE)
    flow.shell("replica", (
        "pg_ctlcluster 15 main stop -m fast; rm -rf /var/lib/postgresql/15/main && install -d -o postgres -g postgres -m 700 /var/lib/postgresql/15/main && "
        f"runuser -u postgres -- env PGPASSWORD='{password}' pg_basebackup -h primary -U replicator -D /var/lib/postgresql/15/main -R -C -S reporting_1 -X stream -c fast && "
        "pg_ctlcluster 15 main start"
    ))
    code, objectives, output = flow.check()
    assert code == 0 and not flow.failing(objectives), output


def test_password_in_pgpass_passes(flow, engine, instance_name):
    flow.start()
    password = _rotated_password(engine, instance_name)
    flow.shell("primary", HBA_LINE + " && " + PSQL + " -c \"SELECT pg_create_physical_replication_slot('reporting_1')\"")
    flow.shell("replica", (
        f"echo 'primary:5432:replication:replicator:{password}' > /var/lib/postgresql/.pgpass && chown postgres:postgres /var/lib/postgresql/.pgpass && "
        "chmod 600 /var/lib/postgresql/.pgpass && "
        f"{PSQL} -c \"ALTER SYSTEM SET primary_conninfo = 'host=primary port=5432 user=replicator application_name=reporting'\" && "
        f"{PSQL} -c 'SELECT pg_reload_conf()'"
    ))
    code, objectives, output = flow.check()
    assert code == 0 and not flow.failing(objectives), output


