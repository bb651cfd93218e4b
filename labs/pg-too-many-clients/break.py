"""Break the order summary path the way the PERF-88/91 changes and OPS-2290 did (pyinfra deploy).

The shop database gets the app's role and a per-instance number of orders. The
faults, one per hop:

1. db: max_connections cut to 12 "because the box was swapping" (OPS-2290): with
   the superuser reserve, 9 connections for everyone else.
2. app: its pool has no bound and never closes an idle connection (PERF-91): a
   burst of 50 requests opens 50 connections and keeps them all forever; and it
   still connects straight to PostgreSQL, the switch to PgBouncer never made.
3. bouncer: PgBouncer, set up for the switch, is in session mode with a pool of
   50: every client pins its own server connection, so it would multiply
   connections instead of sharing them, and ask PostgreSQL for more than it has.
"""

import hashlib
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent / "files"
PSQL = "runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1"


def order_count(nonce: str) -> int:
    return 1000 + int(hashlib.sha256(nonce.encode()).hexdigest()[:8], 16) % 4000


SERVICE = host.data.service
VALUES = host.data.values

if SERVICE == "db":
    files.put(
        name="OPS-2290: fewer connections, the box was swapping",
        src=StringIO("# OPS-2290: the box was swapping under the morning rush; fewer backends.\nmax_connections = 12\n"),
        dest="/etc/postgresql/15/main/conf.d/30-memory.conf",
        mode="644",
    )
    setup = f"""
\\set ON_ERROR_STOP on
ALTER ROLE postgres PASSWORD '{VALUES["admin_password"]}';
CREATE ROLE orders_app LOGIN PASSWORD '{VALUES["db_password"]}';
CREATE DATABASE shop OWNER orders_app;
\\connect shop
CREATE TABLE orders (id bigserial PRIMARY KEY, customer text NOT NULL, total_cents integer NOT NULL, placed_at timestamptz NOT NULL DEFAULT now());
INSERT INTO orders (customer, total_cents, placed_at)
  SELECT 'customer-' || (g % 311), 300 + (g * 7919) % 25000, now() - make_interval(mins => g) FROM generate_series(1, {order_count(VALUES["nonce"])}) AS g;
ALTER TABLE orders OWNER TO orders_app;
"""
    files.put(name="Shop database script", src=StringIO(setup), dest="/tmp/setup.sql", mode="600")
    server.shell(
        name="Restart PostgreSQL with max_connections = 12, load the shop",
        commands=[
            "pg_ctlcluster 15 main restart",
            f"{PSQL} </tmp/setup.sql >/tmp/setup.log 2>&1 || {{ cat /tmp/setup.log >&2; exit 1; }}",
            "rm -f /tmp/setup.sql /tmp/setup.log",
        ],
    )

if SERVICE == "bouncer":
    files.put(name="PERF-88: PgBouncer in session mode, pool of 50", src=str(FILES / "pgbouncer.ini"),
              dest="/etc/pgbouncer/pgbouncer.ini", user="postgres", group="postgres", mode="640")
    files.put(name="PgBouncer's users", src=StringIO(f'"orders_app" "{VALUES["db_password"]}"\n'),
              dest="/etc/pgbouncer/userlist.txt", user="postgres", group="postgres", mode="640")
    server.shell(
        name="Restart PgBouncer",
        commands=[
            "pkill -x pgbouncer; for i in $(seq 50); do pgrep -x pgbouncer >/dev/null || break; sleep 0.1; done",
            "runuser -u postgres -- pgbouncer -d /etc/pgbouncer/pgbouncer.ini",
        ],
    )

if SERVICE == "app":
    files.put(name="PERF-91: an unbounded pool that never lets go", src=str(FILES / "orders.ini"), dest="/etc/orders-api/orders.ini", mode="644")
    server.shell(name="Restart the app (labs-init starts it again)", commands=["pkill -f '^python3 -u /srv/app/app.py' || true", "sleep 1.5"])
