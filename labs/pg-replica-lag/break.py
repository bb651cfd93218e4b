"""Break the shop's streaming replication the way last night did (pyinfra deploy).

First a healthy pair is built: the primary gets a replication role, a physical slot
`reporting_1` and a pg_hba line for replication; the replica is cloned with
`pg_basebackup -R -S reporting_1` and streams. Then three faults, all on the
primary's side, as the night's changes made them:

1. The secrets rotation job changed the replication role's password on the primary
   (the new one is in /root/rotated/replicator there); the replica still has the old
   one in the primary_conninfo that pg_basebackup -R wrote.
2. Config management regenerated pg_hba.conf from a template without the
   `replication` line: `all` does not cover replication connections.
3. Someone saw pg_wal growing behind the disconnected replica and dropped its slot.

A few orders are written afterwards, so the replica is visibly behind. The data
is tiny, so the base backup takes a second or two.
"""

from pyinfra import host
from pyinfra.operations import server

SLOT = "reporting_1"
PSQL = "runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1"
HBA = "/etc/postgresql/15/main/pg_hba.conf"
REPLICATION_LINE = "host    replication     replicator      samenet                 scram-sha-256"


def old_password(values: dict) -> str:
    """The replication password before the rotation (derived, so break.py alone knows it)."""
    return "old" + values["nonce"][::-1]


SETUP_SQL = """
\\set ON_ERROR_STOP on
ALTER ROLE postgres PASSWORD '{admin}';
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '{old}';
COMMENT ON ROLE replicator IS 'streaming replication to reporting replica';
CREATE DATABASE shop;
\\connect shop
CREATE TABLE orders (id bigserial PRIMARY KEY, customer text NOT NULL, total_cents integer NOT NULL, placed_at timestamptz NOT NULL DEFAULT now());
INSERT INTO orders (customer, total_cents, placed_at)
  SELECT 'customer-' || (g % 97), 500 + (g * 37) % 20000, now() - make_interval(hours => 200 - g) FROM generate_series(1, 200) AS g;
SELECT pg_create_physical_replication_slot('{slot}');
"""

SERVICE = host.data.service
VALUES = host.data.values
SETUP = [
    "printf 'max_wal_senders = 5\\nwal_keep_size = 64MB\\nwal_level = replica\\n' > /etc/postgresql/15/main/conf.d/20-replication.conf",
    f"cat > /tmp/setup.sql <<'SQL'\n{SETUP_SQL.format(admin=VALUES['admin_password'], old=old_password(VALUES), slot=SLOT)}\nSQL",
    f"echo '{REPLICATION_LINE}' >> {HBA}",
    "pg_ctlcluster 15 main restart",
    f"{PSQL} -f /tmp/setup.sql >/tmp/setup.log 2>&1 || {{ cat /tmp/setup.log >&2; exit 1; }}",
    "rm -f /tmp/setup.sql /tmp/setup.log",
]
CLONE = [
    "pg_ctlcluster 15 main stop -m fast || true",
    "rm -rf /var/lib/postgresql/15/main && install -d -o postgres -g postgres -m 700 /var/lib/postgresql/15/main",
    f"runuser -u postgres -- env PGPASSWORD='{old_password(VALUES)}' pg_basebackup -h primary -U replicator -D /var/lib/postgresql/15/main -R -S {SLOT} -X stream -c fast",
    "pg_ctlcluster 15 main start",
    "for i in $(seq 100); do [ \"$(runuser -u postgres -- psql -XAtq -c 'SELECT status FROM pg_stat_wal_receiver')\" = streaming ] && break; sleep 0.2; done",
    "[ \"$(runuser -u postgres -- psql -XAtq -c 'SELECT status FROM pg_stat_wal_receiver')\" = streaming ]",
]
NIGHT = [
    "install -d -m 700 /root/rotated",
    f"echo '{VALUES['replication_password']}' > /root/rotated/replicator && chmod 600 /root/rotated/replicator",
    f"sed -i '/^host    replication     replicator/d' {HBA}",
    f"{PSQL} -c 'SELECT pg_reload_conf()' >/dev/null",
    f"{PSQL} -c \"ALTER ROLE replicator PASSWORD '{VALUES['replication_password']}'\"",
    f"{PSQL} -c \"SELECT pg_terminate_backend(pid) FROM pg_stat_replication\" >/dev/null",
    f"for i in $(seq 100); do [ \"$({PSQL} -c \"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{SLOT}' AND active\")\" = 0 ] && break; sleep 0.1; done",
    f"{PSQL} -c \"SELECT pg_drop_replication_slot('{SLOT}')\" >/dev/null",
    f"{PSQL} -d shop -c \"INSERT INTO orders (customer, total_cents) SELECT 'customer-' || g, 1000 + g FROM generate_series(1, 25) AS g\"",
]

# labs runs deploys through pyinfra's API, where the n-th operation of every host is one
# step: each service gets exactly these three operations, so the replica is cloned only
# after the primary is set up, and the night's changes come only after the replica streams.
server.shell(name="Primary: replication role, the shop's orders, the replica's slot, replication in pg_hba.conf",
             commands=SETUP if SERVICE == "primary" else [])
server.shell(name=f"Replica: clone the primary (pg_basebackup -R -S {SLOT}) and start streaming",
             commands=CLONE if SERVICE == "replica" else [])
server.shell(name="Primary, the night: pg_hba.conf regenerated without replication, password rotated, slot dropped",
             commands=NIGHT if SERVICE == "primary" else [])
