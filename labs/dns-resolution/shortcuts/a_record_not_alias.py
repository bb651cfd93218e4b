"""Shortcut: point the DNS record at today's address instead of aliasing the registry name.

The app host is fixed properly (no pin, production first in the search list), so orders
are recorded; but orders-db.prod.corp.internal is a fixed A record that will not follow
the primary when it fails over.
"""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files, server

if host.data.service == "ns":
    server.shell(
        name="A record with today's address",
        commands=["addr=$(getent ahostsv4 db | awk 'NR==1 {print $1}') && sed -i \"s/^host-record=orders-db.prod.corp.internal,.*/host-record=orders-db.prod.corp.internal,$addr/\" /etc/dnsmasq.d/10-corp.conf && pkill -x dnsmasq; sleep 3"],
    )

if host.data.service == "app":
    files.put(name="No static entries", src=StringIO("# Static host entries for this machine, added to /etc/hosts at every boot.\n"), dest="/etc/hosts.local")
    files.put(name="Production first", src=StringIO("search prod.corp.internal corp.internal\noptions timeout:1 attempts:2\n"), dest="/etc/resolvconf/resolv.conf.d/base")
    server.shell(
        name="Rebuild the running resolver files",
        commands=[
            "grep -v orders-db /etc/hosts > /tmp/h && cat /tmp/h > /etc/hosts && rm /tmp/h",
            "sed 's/^search .*/search prod.corp.internal corp.internal/' /etc/resolv.conf > /tmp/r && cat /tmp/r > /etc/resolv.conf && rm /tmp/r",
        ],
    )
