"""Set up stockroom the way it runs in production, leaks included (pyinfra deploy).

The database password (per instance: ``values.db_password``) gets out four ways:

* web: the release job unpacked the whole release, its ``.env`` included, into
  nginx's document root, and someone left ``stockroom.env.bak`` there while
  editing it by hand: both are served to anyone.
* app: ``/etc/stockroom/stockroom.env`` is world-readable (0644).
* app: ``LOG_LEVEL=debug`` makes the app dump its settings, database URL and
  password included, into its output (the container log) at every start.
* db: ``log_statement = 'ddl'`` (an audit request) logs every CREATE/ALTER ROLE
  in full, so the role's provisioning put the password in the server log, and a
  careless rotation (a plaintext ALTER ROLE ... PASSWORD) would log the new one.
"""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import server

FILES = Path(__file__).parent / "files"
PASSWORD = host.data.values["db_password"]
NONCE = host.data.values["nonce"]
URL = f"postgresql://stockroom:{PASSWORD}@db:5432/stockroom"

SETTINGS = f"""\
# stockroom settings (templated by the release job; see OPS-1874)
DATABASE_URL={URL}
# debug while we chase the intermittent 503s (OPS-1987). Revert when done.
LOG_LEVEL=debug
LISTEN_PORT=8000
"""

OLD_SETTINGS = f"""\
# stockroom settings
DATABASE_URL={URL}
LOG_LEVEL=info
"""

AUDIT_CONF = """\
# SEC-1203: keep an audit trail of every schema and role change.
log_statement = 'ddl'
"""

ITEMS = [
    ("SR-1001", "pallet jack", 4),
    ("SR-1002", "stretch wrap, 500 mm roll", 120),
    ("SR-1003", "barcode labels, 1000/box", 37),
    ("SR-1004", "safety cutter", 15),
    (f"CC-{NONCE[:10]}", f"cycle count tag {NONCE}", 1),
]
VALUES_SQL = ", ".join(f"('{sku}', '{name}', {qty})" for sku, name, qty in ITEMS)

PROVISION = f"""\
set -e
pg_ctlcluster 15 main reload
for i in $(seq 50); do
    [ "$(runuser -u postgres -- psql -XAtc 'SHOW log_statement')" = ddl ] && break
    sleep 0.1
done
runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE ROLE stockroom LOGIN PASSWORD '{PASSWORD}';
CREATE DATABASE stockroom OWNER stockroom;
\\c stockroom
SET ROLE stockroom;
CREATE TABLE items (sku text PRIMARY KEY, name text NOT NULL, qty integer NOT NULL CHECK (qty >= 0));
INSERT INTO items (sku, name, qty) VALUES {VALUES_SQL};
SQL
"""



def write(dest: str, text: str, mode: str, owner: str = "root:root") -> str:
    """A shell snippet that writes ``text`` to ``dest`` (a heredoc: one command for many files)."""
    return f"install -d \"$(dirname {dest})\"\ncat > {dest} <<'LABS_EOF'\n{text}LABS_EOF\nchown {owner} {dest} && chmod {mode} {dest}"


# pyinfra, as labs runs it, knows an operation by its position in each service's list (not by its
# line) and runs position n on every service, one service after the other, before position n + 1.
# So that the database is provisioned before the app restarts and is asked for its stock, every
# service collects every operation below and `_if=` picks the one that runs it: the positions are
# then the lines of this file, the same on every service. One command per service keeps it quick.


def on(service: str):
    return lambda: host.data.service == service


ADMIN = host.data.values["admin_password"]

# 1. The database: the superuser's password (for the checks' probes, set before the audit log is
#    on), the audit log, then the app's role and data.
server.shell(
    name="Superuser password for the checks, the DDL audit log, and the stockroom role, database and table",
    commands=[
        f"runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -c \"ALTER ROLE postgres PASSWORD '{ADMIN}'\"",
        write("/etc/postgresql/15/main/conf.d/20-audit.conf", AUDIT_CONF, "644"),
        PROVISION,
    ],
    _if=on("db"),
)

# 2. The web tier: the release unpacked into the document root (its .env included), a hand edit's
#    leftover backup, and the site that serves the whole folder.
server.shell(
    name="Release unpacked into the document root, a leftover backup, the site, and a reload",
    commands=[
        write("/srv/stockroom/static/stockroom.css", (FILES / "stockroom.css").read_text(), "644"),
        write("/srv/stockroom/RELEASE", (FILES / "RELEASE").read_text(), "644"),
        write("/srv/stockroom/.env", SETTINGS, "644"),
        write("/srv/stockroom/stockroom.env.bak", OLD_SETTINGS, "644"),
        write("/etc/nginx/sites-available/stockroom", (FILES / "stockroom-site.conf").read_text(), "644"),
        "ln -sfn /etc/nginx/sites-available/stockroom /etc/nginx/sites-enabled/stockroom",
        "nginx -t -q && { nginx -s reload 2>/dev/null || nginx; }",
    ],
    _if=on("web"),
)

# 3. The app, last: its settings, a restart on them, and a few requests served from the database
#    provisioned above (its debug log prints the database URL at start and at every connection).
server.shell(
    name="App settings (world-readable, debug logging), a restart on them, and a few requests",
    commands=[
        write("/etc/stockroom/stockroom.env", SETTINGS, "644"),
        "for i in $(seq 50); do sv status stockroom >/dev/null 2>&1 && break; sleep 0.1; done; sv restart stockroom",
        # Bounded: each request, and the whole wait (a busy machine can be slow to start python).
        "end=$(($(date +%s) + 100)); until curl -fsS -m 10 -o /dev/null http://127.0.0.1:8000/api/items; do [ $(date +%s) -lt $end ] || exit 1; sleep 0.3; done",
        "curl -fsS -m 10 -o /dev/null http://127.0.0.1:8000/",
    ],
    _timeout=115,
    _if=on("app"),
)
