"""Reference solution for leaky-secrets (pyinfra deploy). Gives the answer away.

Order matters: first close every way the password gets out (web, logs, file
permissions), then rotate it, so the new password never meets an open leak.
The rotation generates a random password, hashes it on the client side (as
psql's \\password does) so that neither the wire nor the server's DDL log ever
sees it in clear, and writes it only to the app's private settings file.

Idempotent: the rotation runs only while the app's settings still carry the
leaked password, reloads and restarts only when a file changed, so a second
run changes nothing.
"""

import hashlib
from pathlib import Path

from pyinfra import host
from pyinfra.facts.server import Command
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

FILES = Path(__file__).parent / "files"
SETTINGS = "/etc/stockroom/stockroom.env"
LEAKED = host.data.values["db_password"]

# nginx -s reload returns at once, and the old workers keep serving the old configuration until
# they exit: wait (bounded) until they have, so the first check sees the new one.
RELOAD_NGINX = (
    "old=$(pgrep -d ' ' -f '^nginx: worker process'); "
    "if [ -s /run/nginx.pid ] && kill -0 $(cat /run/nginx.pid) 2>/dev/null; then nginx -s reload; else nginx; fi || exit 1; "
    "for i in $(seq 200); do gone=1; for p in $old; do kill -0 $p 2>/dev/null && gone=0; done; [ $gone = 1 ] && exit 0; sleep 0.1; done; "
    "echo 'nginx still runs workers with the old configuration after 20 s' >&2; exit 1"
)

# The sha256 of the password in the app's settings, read with the app's own
# loader (so no password ever goes on a command line).
CONFIGURED_PASSWORD_SHA = (
    "python3 -c 'import hashlib, sys; sys.path.insert(0, \"/srv/stockroom\"); import app; "
    "from psycopg2.extensions import parse_dsn; "
    "url = app.load_config().get(\"DATABASE_URL\", \"\"); "
    "print(hashlib.sha256((parse_dsn(url).get(\"password\") or \"\").encode()).hexdigest())'"
)

ROTATE = r"""python3 - <<'PY'
import os, secrets, sys, tempfile
from urllib.parse import quote
sys.path.insert(0, "/srv/stockroom")
import app
from psycopg2.extensions import encrypt_password, parse_dsn

path = app.CONFIG_PATH
url = app.load_config(path)["DATABASE_URL"]
parts = parse_dsn(url)
new = secrets.token_urlsafe(32)  # 43 random characters, URL-safe

conn = app.connect(url)  # as the app's role, with the leaked password one last time
with conn.cursor() as cur:
    cur.execute("SELECT current_user")
    role = cur.fetchone()[0]
    # Hashed here (SCRAM, the server's password_encryption), as psql's \password does:
    # the server, and its statement log, only ever see the verifier.
    cur.execute("ALTER ROLE CURRENT_USER PASSWORD %s", (encrypt_password(new, role, conn),))
conn.close()

new_url = "postgresql://%s:%s@%s:%s/%s" % (quote(role, safe=""), quote(new, safe=""), parts.get("host", "db"), parts.get("port", "5432"), parts.get("dbname", role))
with open(path, encoding="utf-8") as handle:
    lines = [f"DATABASE_URL={new_url}\n" if line.startswith("DATABASE_URL=") else line for line in handle]
st = os.stat(path)
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".stockroom.env.")  # created 0600
with os.fdopen(fd, "w", encoding="utf-8") as handle:
    handle.writelines(lines)
    handle.flush()
    os.fsync(handle.fileno())
os.chown(tmp, st.st_uid, st.st_gid)
os.chmod(tmp, st.st_mode & 0o777)
os.replace(tmp, path)  # atomic: the app never reads half a file
PY
sv restart stockroom"""

# pyinfra, as labs runs it, knows an operation by its position in each service's list (not by its
# line): every service collects every operation below and `_if=` picks the one that runs it, so
# the positions are the lines of this file and the rotation comes after every leak is closed.


def on(service: str):
    return lambda: host.data.service == service


WEB, APP = on("web"), on("app")

# 1. The web tier serves only static/ and never a dotfile or a backup; the copies go.
site = files.put(name="Site: only static/ is public; no dotfiles or backups", src=str(FILES / "stockroom-site-fixed.conf"), dest="/etc/nginx/sites-available/stockroom", mode="644", _if=WEB)
files.file(name="The web tier needs no database settings: remove .env", path="/srv/stockroom/.env", present=False, _if=WEB)
files.file(name="Remove the hand edit's backup", path="/srv/stockroom/stockroom.env.bak", present=False, _if=WEB)
server.shell(
    name="Validate, then reload nginx (or start it if it is down)",
    commands=["nginx -t -q", RELOAD_NGINX],
    _if=[WEB, any_changed(site)],
)

# 2. The app logs at info (its debug dump prints the database URL) and its
#    settings are readable by the app's user only: root:stockroom 0640.
level = files.line(name="Settings: log at info, not debug", path=SETTINGS, line=r"^LOG_LEVEL=.*$", replace="LOG_LEVEL=info", _if=APP)
files.file(name="Settings: readable by the app's user only", path=SETTINGS, user="root", group="stockroom", mode="640", _if=APP)
server.shell(name="Restart the app on its new settings", commands=["sv restart stockroom"], _if=[APP, any_changed(level)])

# 3. Rotate, unless the settings already carry another password than the leaked one.
still_leaked = False
if host.data.service == "app":
    configured = (host.get_fact(Command, command=CONFIGURED_PASSWORD_SHA) or "").strip()
    still_leaked = configured == hashlib.sha256(LEAKED.encode()).hexdigest()
server.shell(name="Rotate the database password (hashed client-side) and restart the app", commands=[ROTATE], _if=[APP, lambda: still_leaked])
