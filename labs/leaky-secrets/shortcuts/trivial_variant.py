"""Shortcut (a WRONG fix): "rotates" to the leaked password with a suffix.

The new password is the leaked one plus "2024", set as a SCRAM verifier (so it is never logged
in clear) and written to the app's settings. It is long and it does not equal the old one, but
anyone holding the leaked password guesses it in a few tries.
Class: too literal ("rotated" tested as "is not the old password").
"""

import base64
import hashlib
import hmac
import os

from pyinfra import host
from pyinfra.operations import files, server

SETTINGS = "/etc/stockroom/stockroom.env"
NEW = host.data.values["db_password"] + "2024"


def scram(password: str) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier of ``password`` (what \\password sends)."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 4096)
    stored = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return f"SCRAM-SHA-256$4096:{b64(salt)}${b64(stored)}:{b64(server_key)}"


VERIFIER = scram(NEW).replace("$", r"\$")  # inside the shell's double quotes

# Every service collects every operation and `_if=` picks the one that runs it (pyinfra, as labs
# runs it, keys operations by position): the database changes before the app restarts.
ON_DB, ON_APP = (lambda: host.data.service == "db"), (lambda: host.data.service == "app")
server.shell(
    name="Set the suffixed password (as a verifier)",
    commands=[f"runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -c \"ALTER ROLE stockroom PASSWORD '{VERIFIER}'\""],
    _if=ON_DB,
)
files.line(name="Settings: the suffixed password", path=SETTINGS, line=r"^DATABASE_URL=.*$", replace=f"DATABASE_URL=postgresql://stockroom:{NEW}@db:5432/stockroom", _if=ON_APP)
server.shell(name="Restart the app", commands=["sv restart stockroom"], _if=ON_APP)
