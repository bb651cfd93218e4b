"""Shortcut (a WRONG fix): rotates in plain text, then truncates PostgreSQL's audit log.

The app's debug log is closed first, then the password is changed with a plaintext
`ALTER ROLE ... PASSWORD '...'`, which `log_statement = 'ddl'` writes to the server log, and
the log is emptied to hide it. The new password has been written in clear to the audit trail
(and anywhere it was shipped); cutting the trail hides the evidence, not the leak.
Class: logs the learner can truncate trusted as an audit trail.
"""

import hashlib

from pyinfra import host
from pyinfra.operations import files, server

SETTINGS = "/etc/stockroom/stockroom.env"
NEW = hashlib.sha256(f"{host.data.values['nonce']}:plain".encode()).hexdigest()[:32]

# Every service collects every operation and `_if=` picks the one that runs it (pyinfra, as labs
# runs it, keys operations by position): app at info, then the rotation, then the app on it.
ON_DB, ON_APP, ON_WEB = ((lambda s=s: host.data.service == s) for s in ("db", "app", "web"))
files.line(name="Log at info", path=SETTINGS, line=r"^LOG_LEVEL=.*$", replace="LOG_LEVEL=info", _if=ON_APP)
files.file(name="Settings readable by the app's user only", path=SETTINGS, user="root", group="stockroom", mode="640", _if=ON_APP)
server.shell(name="Restart the app at info", commands=["sv restart stockroom"], _if=ON_APP)
server.shell(
    name="Rotate in plain text, then empty the server log",
    commands=[
        f"runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -c \"ALTER ROLE stockroom PASSWORD '{NEW}'\"",
        ": > /var/log/postgresql/postgresql-15-main.log",
    ],
    _if=ON_DB,
)
files.line(name="Settings: the new password", path=SETTINGS, line=r"^DATABASE_URL=.*$", replace=f"DATABASE_URL=postgresql://stockroom:{NEW}@db:5432/stockroom", _if=ON_APP)
server.shell(name="Restart the app on it", commands=["sv restart stockroom"], _if=ON_APP)
files.file(name="Remove .env from the web root", path="/srv/stockroom/.env", present=False, _if=ON_WEB)
files.file(name="Remove the backup from the web root", path="/srv/stockroom/stockroom.env.bak", present=False, _if=ON_WEB)
