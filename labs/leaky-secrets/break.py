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

import io
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

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

if host.data.service == "db":
    files.put(name="Audit: log every DDL statement", src=io.StringIO(AUDIT_CONF), dest="/etc/postgresql/15/main/conf.d/20-audit.conf", mode="644")
    server.shell(name="Provision the stockroom role, database and stock table", commands=[PROVISION])

# pyinfra orders operations per host only: this one runs on every service, so
# nothing below starts before the database above is provisioned.
files.directory(name="Wait for every service to get here", path="/run/labs", present=True)

if host.data.service == "app":
    files.put(name="App settings (world-readable, debug logging)", src=io.StringIO(SETTINGS), dest="/etc/stockroom/stockroom.env", user="root", group="root", mode="644")
    server.shell(
        name="Restart the app on its new settings, and let it serve a few requests",
        commands=["for i in $(seq 50); do sv status stockroom >/dev/null 2>&1 && break; sleep 0.1; done; sv restart stockroom && for i in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:8000/api/items && break; sleep 0.1; done && curl -fsS -o /dev/null http://127.0.0.1:8000/"],
    )

if host.data.service == "web":
    files.directory(name="Release: static assets folder", path="/srv/stockroom/static", mode="755")
    files.put(name="Release: stylesheet", src=str(FILES / "stockroom.css"), dest="/srv/stockroom/static/stockroom.css", mode="644")
    files.put(name="Release: RELEASE", src=str(FILES / "RELEASE"), dest="/srv/stockroom/RELEASE", mode="644")
    files.put(name="Release: .env (templated into every release)", src=io.StringIO(SETTINGS), dest="/srv/stockroom/.env", mode="644")
    files.put(name="A hand edit's leftover backup", src=io.StringIO(OLD_SETTINGS), dest="/srv/stockroom/stockroom.env.bak", mode="644")
    files.put(name="Site: serve the release directory, pass the rest to the app", src=str(FILES / "stockroom-site.conf"), dest="/etc/nginx/sites-available/stockroom", mode="644")
    files.link(name="Enable the stockroom site", path="/etc/nginx/sites-enabled/stockroom", target="/etc/nginx/sites-available/stockroom")
    server.shell(name="Reload nginx", commands=["nginx -t -q && { nginx -s reload 2>/dev/null || nginx; }"])
