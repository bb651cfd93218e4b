"""Shortcut: teach the service registry to publish orders-db itself.

lab-registrator on ns is edited to write an address line for orders-db and
orders-db.prod.corp.internal too, which answers both names without an alias: the DNS
server's tools are no longer as shipped, and the record is still a fixed A record.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "ns":
    server.shell(
        name="Registry publishes the alias as an address",
        commands=[
            "sed -i 's/line=\"$addr db-primary.prod.corp.internal\"/line=\"$addr db-primary.prod.corp.internal orders-db.prod.corp.internal\"/' /usr/local/bin/lab-registrator",
            "sed -i '/^host-record=orders-db.prod/d' /etc/dnsmasq.d/10-corp.conf",
            "pkill -f '^/bin/sh /usr/local/bin/lab-registrator$'; rm -f /var/lib/lab-registry/services; (setsid /usr/local/bin/lab-registrator >/dev/null 2>&1 &); pkill -x dnsmasq; sleep 4",
        ],
    )
