"""Shortcut (a WRONG fix): locks the settings file down, and leaves a readable backup of it.

Before changing the settings file (info logging, root:stockroom 0640), a compressed backup of it
goes to /var/backups/stockroom.env.gz, readable by everyone, as many hand edits do. The password
in the backup still works: a grep for it does not see inside the gzip, any local user does.
Class: copies of the secret elsewhere and in archives.
"""

from pyinfra import host
from pyinfra.operations import files, server

SETTINGS = "/etc/stockroom/stockroom.env"

if host.data.service == "app":
    server.shell(name="Back the settings up first", commands=[f"mkdir -p /var/backups && gzip -n -c {SETTINGS} > /var/backups/stockroom.env.gz && chmod 644 /var/backups/stockroom.env.gz"])
    files.line(name="Log at info", path=SETTINGS, line=r"^LOG_LEVEL=.*$", replace="LOG_LEVEL=info")
    files.file(name="Settings readable by the app's user only", path=SETTINGS, user="root", group="stockroom", mode="640")
    server.shell(name="Restart the app", commands=["sv restart stockroom"])
