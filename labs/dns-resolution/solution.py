"""Reference solution for dns-resolution (pyinfra deploy). Gives the answer away.

ns: orders-db.prod.corp.internal becomes an alias (CNAME) of the registry's
db-primary.prod.corp.internal, and dnsmasq restarts with it. app: the pinned entry leaves
/etc/hosts.local, prod.corp.internal comes first in the search list, and the running
host's /etc/hosts and /etc/resolv.conf are rebuilt the way the boot builds them (they are
bind mounts: rewritten in place, never renamed over). Idempotent: every command runs
only when a file it depends on changed.
"""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

BASE = "# Search list and options for this host (the name server comes from the network).\nsearch prod.corp.internal corp.internal\noptions timeout:1 attempts:2\n"

if host.data.service == "ns":
    record = files.replace(
        name="orders-db.prod is an alias of the registry's primary",
        path="/etc/dnsmasq.d/10-corp.conf",
        text=r"^host-record=orders-db\.prod\.corp\.internal,.*$",
        replace="cname=orders-db.prod.corp.internal,db-primary.prod.corp.internal",
    )
    server.shell(
        name="Restart dnsmasq with the new record (its supervisor starts it again)",
        commands=["dnsmasq --test --conf-file=/etc/dnsmasq.conf", "pkill -x dnsmasq; sleep 3"],
        _if=any_changed(record),
    )

if host.data.service == "app":
    hosts = files.put(name="No static entry for the database", src=StringIO("# Static host entries for this machine, added to /etc/hosts at every boot.\n"), dest="/etc/hosts.local", mode="644")
    base = files.put(name="Search list: production first", src=StringIO(BASE), dest="/etc/resolvconf/resolv.conf.d/base", mode="644")
    server.shell(
        name="Rebuild the running host's /etc/hosts and /etc/resolv.conf as the boot does",
        commands=[
            "sed '/^# --- added at boot from \\/etc\\/hosts.local ---$/,$d' /etc/hosts > /tmp/hosts"
            " && { echo '# --- added at boot from /etc/hosts.local ---'; grep -v '^#' /etc/hosts.local || true; } >> /tmp/hosts"
            " && cat /tmp/hosts > /etc/hosts && rm /tmp/hosts",
            "{ grep -E '^(#|nameserver)' /etc/resolv.conf; grep -v '^#' /etc/resolvconf/resolv.conf.d/base; } > /tmp/resolv && cat /tmp/resolv > /etc/resolv.conf && rm /tmp/resolv",
        ],
        _if=any_changed(hosts, base),
    )
