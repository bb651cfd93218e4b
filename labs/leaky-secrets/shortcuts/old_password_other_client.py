"""Shortcut (a WRONG fix): a new role for the app; the old one is only refused from the app host.

The app moves to a new role `stockroom_v2` with a new random password (set as a SCRAM
verifier), and pg_hba.conf rejects the old role from the app container's address only. A login
with the leaked password from the app container now fails, so "the old password is refused" looks
true; from any other client on the network the leaked password still logs in as `stockroom`.
Class: too literal (the old password tried from one client only).
"""

import base64
import hashlib
import hmac
import os

from pyinfra import host
from pyinfra.operations import files, server

SETTINGS = "/etc/stockroom/stockroom.env"
HBA = "/etc/postgresql/15/main/pg_hba.conf"
NEW = hashlib.sha256(f"{host.data.values['nonce']}:v2".encode()).hexdigest()[:32]
PSQL = "runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d stockroom"


def scram(password: str) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier of ``password``."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 4096)
    keys = [hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest(), hmac.new(salted, b"Server Key", "sha256").digest()]
    return "SCRAM-SHA-256$4096:{}${}:{}".format(*(base64.b64encode(raw).decode() for raw in [salt, *keys]))


VERIFIER = scram(NEW).replace("$", r"\$")  # inside the shell's double quotes

# Every service collects every operation and `_if=` picks the one that runs it (pyinfra, as labs
# runs it, keys operations by position): the database changes before the app restarts.
ON_DB, ON_APP = (lambda: host.data.service == "db"), (lambda: host.data.service == "app")
server.shell(
    name="A new role for the app; the old role refused from the app's address",
    commands=[
        f"{PSQL} -c \"CREATE ROLE stockroom_v2 LOGIN PASSWORD '{VERIFIER}'\"",
        f"{PSQL} -c 'GRANT stockroom TO stockroom_v2'",
        f"ip=$(getent hosts app | cut -d' ' -f1) && sed -i \"1i host all stockroom $ip/32 reject\" {HBA}",
        "pg_ctlcluster 15 main reload",
    ],
    _if=ON_DB,
)
files.line(name="Settings: the new role", path=SETTINGS, line=r"^DATABASE_URL=.*$", replace=f"DATABASE_URL=postgresql://stockroom_v2:{NEW}@db:5432/stockroom", _if=ON_APP)
files.line(name="Log at info", path=SETTINGS, line=r"^LOG_LEVEL=.*$", replace="LOG_LEVEL=info", _if=ON_APP)
files.file(name="Settings private to the app's user", path=SETTINGS, user="root", group="stockroom", mode="640", _if=ON_APP)
server.shell(name="Restart the app", commands=["sv restart stockroom"], _if=ON_APP)
