"""The dns-resolution lab end to end on the real engine, through the real `labs` command.

Broken → the expected objectives fail → the reference solution → all pass → a second
solution run changes nothing. Then two other valid fixes, made the way a learner would
(`labs shell`), pass every objective: the alias in a new dnsmasq file with the old record
deleted, staging dropped from the search list; and the record edited in place with the
app told the fully qualified name, /etc/hosts.local emptied with an editor-style rewrite.
The shortcuts in labs/dns-resolution/shortcuts/ are proven to fail by `labs validate`.
"""

from __future__ import annotations

import pytest

from lab_driver import LabDriver

pytestmark = pytest.mark.docker

LAB = "dns-resolution"
ALL = {"test_code_and_tools_unmodified", "test_dns_server_aliases_primary", "test_app_host_resolves_from_dns", "test_orders_recorded", "test_survives_restart"}
RECORDS = "/etc/dnsmasq.d/10-corp.conf"
BASE = "/etc/resolvconf/resolv.conf.d/base"
# /etc/hosts and /etc/resolv.conf are bind mounts: rewrite them in place, as the boot does.
REBUILD = (
    "grep -v 'orders-db' /etc/hosts > /tmp/h && cat /tmp/h > /etc/hosts"
    f" && {{ grep -E '^(#|nameserver)' /etc/resolv.conf; grep -v '^#' {BASE}; }} > /tmp/r && cat /tmp/r > /etc/resolv.conf"
)


ALTERNATIVES = {
    # The alias in a file of its own, the old record gone; staging out of the search list.
    "alias-file-no-staging-search": [
        ("ns", f"sed -i '/^host-record=orders-db.prod/d' {RECORDS}"
               " && echo 'cname=orders-db.prod.corp.internal,db-primary.prod.corp.internal' > /etc/dnsmasq.d/20-orders.conf"
               " && dnsmasq --test && pkill -x dnsmasq; sleep 3"),
        ("app", f": > /etc/hosts.local && sed -i 's/^search .*/search prod.corp.internal/' {BASE} && {REBUILD}"),
    ],
    # The record edited in place; the search list reordered; the app given the full name too.
    "record-in-place-fqdn": [
        ("ns", f"sed -i 's/^host-record=orders-db.prod.corp.internal,.*/cname=orders-db.prod.corp.internal,db-primary.prod.corp.internal/' {RECORDS}"
               " && pkill -x dnsmasq; sleep 3"),
        ("app", "grep -v orders-db /etc/hosts.local > /tmp/l; cat /tmp/l > /etc/hosts.local"
                f" && sed -i 's/^search .*/search prod.corp.internal staging.corp.internal corp.internal/' {BASE}"
                " && sed -i 's/^PGHOST=.*/PGHOST=orders-db.prod.corp.internal/' /etc/orders-app/orders.env"
                f" && {REBUILD} && pkill -f '^python3 -u /srv/app/app.py'; sleep 2"),
    ],
}


@pytest.mark.parametrize("fix", sorted(ALTERNATIVES))
def test_alternative_fix_passes(labs, lab_instance, instance_name, fix):
    started = lab_instance(LAB)
    assert started.returncode == 0, started.stdout + started.stderr
    LabDriver(labs, LAB, instance_name).fix_passes(ALTERNATIVES[fix])
