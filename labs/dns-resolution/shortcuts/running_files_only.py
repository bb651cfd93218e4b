"""Shortcut: fix the DNS record, but on the app host edit only the running /etc/hosts and
/etc/resolv.conf.

Everything works until the app container restarts: its boot rebuilds both files from
/etc/hosts.local and the resolvconf base, which still pin the old primary and search
staging first.
"""

from pyinfra import host
from pyinfra.operations import files, server

if host.data.service == "ns":
    files.replace(
        name="Alias of the registry's primary",
        path="/etc/dnsmasq.d/10-corp.conf",
        text=r"^host-record=orders-db\.prod\.corp\.internal,.*$",
        replace="cname=orders-db.prod.corp.internal,db-primary.prod.corp.internal",
    )
    server.shell(name="Restart dnsmasq", commands=["pkill -x dnsmasq; sleep 3"])

if host.data.service == "app":
    server.shell(
        name="Edit the running resolver files only",
        commands=[
            "grep -v orders-db /etc/hosts > /tmp/h && cat /tmp/h > /etc/hosts && rm /tmp/h",
            "sed 's/^search .*/search prod.corp.internal corp.internal/' /etc/resolv.conf > /tmp/r && cat /tmp/r > /etc/resolv.conf && rm /tmp/r",
        ],
    )
