"""The pg-too-many-clients lab end to end on the real engine, through the real `labs` command.

Broken → the rush and bounded connections fail → the reference solution passes
and is idempotent; two other valid repairs (a small pool straight to PostgreSQL;
more max_connections with the app through PgBouncer in session mode) pass; every
shortcut fails.
"""

from __future__ import annotations

import pytest
from lab_driver import LabDriver

pytestmark = pytest.mark.docker

LAB = "pg-too-many-clients"
INI = "/etc/orders-api/orders.ini"
RESTART_APP = "pkill -f '^python3 -u /srv/app/app.py'; sleep 2"


@pytest.fixture
def flow(labs, lab_instance, instance_name):
    return LabDriver(labs, LAB, instance_name, lab_instance)


def test_small_pool_straight_to_postgres_passes(flow):
    flow.alternative_passes([("app", f"sed -i -e 's/^max_size = 0$/max_size = 8/' -e 's/^idle_timeout = 0$/idle_timeout = 30/' {INI} && {RESTART_APP}")])


def test_more_connections_and_session_pooling_pass(flow):
    flow.alternative_passes([
        ("db", "sed -i 's/^max_connections = 12$/max_connections = 60/' /etc/postgresql/15/main/conf.d/30-memory.conf && pg_ctlcluster 15 main restart"),
        ("bouncer", "sed -i 's/^default_pool_size = 50$/default_pool_size = 25/' /etc/pgbouncer/pgbouncer.ini && pkill -HUP -x pgbouncer"),
        ("app", f"sed -i -e 's/^host = db$/host = bouncer/' -e 's/^port = 5432$/port = 6432/' -e 's/^max_size = 0$/max_size = 20/' "
                f"-e 's/^idle_timeout = 0$/idle_timeout = 10/' {INI} && {RESTART_APP}"),
    ])


