"""Break name resolution for the orders app the way the DNS-214 migration left it (pyinfra deploy).

Three faults at once, each hiding the next:
1. app: a static entry in /etc/hosts.local (added to /etc/hosts at every boot) still pins
   orders-db and orders-db.prod.corp.internal to the old primary's address;
2. ns: the DNS record for orders-db.prod.corp.internal is a fixed A record with that old
   address, instead of an alias of the registry name db-primary.prod.corp.internal;
3. app: the resolver's search list tries staging.corp.internal first, where
   orders-db.staging.corp.internal exists, so the short name `orders-db` finds staging.
The old primary and staging addresses are free addresses of the lab's own subnet: a
connection to them goes nowhere and never leaves the lab's bridge.
"""

import ipaddress
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.facts.server import Command
from pyinfra.operations import files, server

FILES = Path(__file__).parent / "files"


def _dead_addresses() -> tuple[str, str]:
    """Two unused addresses of the lab subnet (read from this container's eth0)."""
    line = host.get_fact(Command, command="ip -4 -o addr show dev eth0 | awk '{print $4}' | head -1")
    network = ipaddress.ip_interface(line.strip()).network
    return str(network.network_address + 250), str(network.network_address + 251)


if host.data.service == "db":
    password = host.data.values["db_password"]
    server.shell(
        name="Orders database, its role and table",
        commands=[
            "runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "
            f"-c \"CREATE ROLE orders_app LOGIN PASSWORD '{password}'\" -c 'CREATE DATABASE orders OWNER orders_app'",
            "runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d orders -c 'SET ROLE orders_app' "
            "-c 'CREATE TABLE orders (id bigserial PRIMARY KEY, trace text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())'",
        ],
    )

if host.data.service == "ns":
    old, staging = _dead_addresses()
    records = (FILES / "corp-broken.conf").read_text().replace("__OLD_PRIMARY__", old).replace("__STAGING__", staging)
    files.put(name="corp.internal records (DNS-214)", src=StringIO(records), dest="/etc/dnsmasq.d/10-corp.conf", mode="644")
    server.shell(name="Restart dnsmasq (its supervisor starts it again)", commands=["pkill -x dnsmasq; sleep 2.5; true"])

if host.data.service == "app":
    old, _ = _dead_addresses()
    pin = f"{old}\torders-db.prod.corp.internal orders-db\n"
    files.put(
        name="Static entry for the old primary",
        src=StringIO(f"# Static host entries for this machine, added to /etc/hosts at every boot.\n# DB cutover window (DNS-214), remove after migration\n{pin}"),
        dest="/etc/hosts.local",
        mode="644",
    )
    files.put(name="Search list: staging first", src=StringIO("# Search list and options for this host (the name server comes from the network).\nsearch staging.corp.internal prod.corp.internal corp.internal\noptions timeout:1 attempts:2\n"), dest="/etc/resolvconf/resolv.conf.d/base", mode="644")
    server.shell(
        name="As the host booted with them: the pinned entry and the search list in effect",
        commands=[
            f"printf '# --- added at boot from /etc/hosts.local ---\\n{pin}' > /tmp/pin && grep -v '^# --- added at boot' /etc/hosts | grep -v '^$' > /tmp/hosts && cat /tmp/hosts /tmp/pin > /etc/hosts",
            "sed 's/^search .*/search staging.corp.internal prod.corp.internal corp.internal/' /etc/resolv.conf > /tmp/resolv && cat /tmp/resolv > /etc/resolv.conf",
            "rm -f /tmp/pin /tmp/hosts /tmp/resolv",
        ],
    )
