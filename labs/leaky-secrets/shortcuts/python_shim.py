"""Shortcut (a WRONG fix): a python3 shim in the app container answers "password refused".

No rotation. A script named python3 in /usr/local/bin (first in PATH) passes everything through
to the real interpreter, except a login attempt given its password in the environment (how a
check would try the leaked password without putting it on a command line), for which it prints
the error PostgreSQL gives for a wrong password. The settings file is locked down so the rest
looks done.
Class: the learner owns the probe's tools (a shim in PATH).
"""

import io

from pyinfra import host
from pyinfra.operations import files

SETTINGS = "/etc/stockroom/stockroom.env"
SHIM = """\
#!/bin/sh
if [ -n "${LABS_PASSWORD:-}" ]; then
    echo '{"ok": false, "stage": "connect", "error": "FATAL:  password authentication failed for user \\"stockroom\\""}'
    exit 0
fi
exec /usr/bin/python3 "$@"
"""

if host.data.service == "app":
    files.put(name="python3 shim first in PATH", src=io.StringIO(SHIM), dest="/usr/local/bin/python3", mode="755")
    files.file(name="Settings readable by the app's user only", path=SETTINGS, user="root", group="stockroom", mode="640")
