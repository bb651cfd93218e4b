"""Shortcut: pin the database's current address on the app host and in DNS.

The primary's address of the moment goes into /etc/hosts.local (and the running
/etc/hosts), and the DNS record becomes an A record with it: orders are recorded today,
and the next failover breaks everything again.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "ns":
    server.shell(
        name="A record with today's address",
        commands=["addr=$(getent ahostsv4 db | awk 'NR==1 {print $1}') && sed -i \"s/^host-record=orders-db.prod.corp.internal,.*/host-record=orders-db.prod.corp.internal,$addr/\" /etc/dnsmasq.d/10-corp.conf && pkill -x dnsmasq; sleep 3"],
    )

if host.data.service == "app":
    server.shell(
        name="Static entry with today's address",
        commands=[
            "addr=$(dig +short @127.0.0.11 db | head -1) && [ -n \"$addr\" ]"
            " && printf '%s\\torders-db.prod.corp.internal orders-db\\n' \"$addr\" > /etc/hosts.local"
            " && grep -v orders-db /etc/hosts > /tmp/h && cat /tmp/h /etc/hosts.local > /etc/hosts && rm /tmp/h",
        ],
    )
