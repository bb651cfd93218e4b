"""The lb-backend-down lab end to end on the real engine, through the real `labs` command.

Broken → the expected objectives fail (502s answered by a node's nginx) → the reference
solution → all pass → a second solution run changes nothing. Then two other valid fixes,
made the way a learner would (`labs shell`), pass every objective: the app's log moved to
a folder it owns plus an HTTP health check with an explicit expectation edited in place,
and a `http-check send` health check with the folder's group fixed. The
shortcuts in labs/lb-backend-down/shortcuts/ are proven to fail by `labs validate`.
"""

from __future__ import annotations

import pytest

from lab_driver import LabDriver

pytestmark = pytest.mark.docker

LAB = "lb-backend-down"
ALL = {"test_nodes_unmodified", "test_every_request_succeeds", "test_every_node_serves", "test_dead_node_taken_out", "test_survives_restart"}
CFG = "/etc/haproxy/haproxy.cfg"


ALTERNATIVES = {
    # The app logs to a new folder it owns (its settings changed); the check path edited in place.
    "log-elsewhere": [
        ("web2", "install -d -o shop -g shop /var/log/shop-app && sed -i 's#^SHOP_LOG=.*#SHOP_LOG=/var/log/shop-app/access.log#' /etc/shopfront/shopfront.env && shopfront-ctl start"),
        ("lb", f"sed -i -e 's#option httpchk GET /static/ping.txt#option httpchk GET /healthz#' -e 's# backup$##' {CFG}"
               " && haproxy -c -q -f " + CFG + " && /etc/init.d/haproxy reload"),
    ],
    # The folder's group and mode fixed instead of its owner; haproxy 2.x style check with a restart.
    "group-writable": [
        ("web2", "chgrp shop /var/log/shopfront && chmod 2775 /var/log/shopfront && shopfront-ctl start"),
        ("lb", f"sed -i -e 's#option httpchk GET /static/ping.txt#option httpchk\\n    http-check send meth GET uri /healthz#' -e 's# backup$##' {CFG}"
               " && haproxy -c -q -f " + CFG + " && /etc/init.d/haproxy restart"),
    ],
}


@pytest.mark.parametrize("fix", sorted(ALTERNATIVES))
def test_alternative_fix_passes(labs, lab_instance, instance_name, fix):
    started = lab_instance(LAB)
    assert started.returncode == 0, started.stdout + started.stderr
    LabDriver(labs, LAB, instance_name).fix_passes(ALTERNATIVES[fix])
