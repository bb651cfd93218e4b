"""Shortcut (a WRONG fix): closes the leaks but never rotates the password.

The copies leave the web root, the app logs at info and its settings file becomes private
(stockroom:stockroom 0600), all with the leaked password still in it. Whoever read it already
still logs in: locking the door after the key was copied.
Class: too literal ("rotated" judged by what the settings file looks like).
"""

from pyinfra import host
from pyinfra.operations import files, server

SETTINGS = "/etc/stockroom/stockroom.env"

if host.data.service == "web":
    files.file(name="Remove .env from the web root", path="/srv/stockroom/.env", present=False)
    files.file(name="Remove the backup from the web root", path="/srv/stockroom/stockroom.env.bak", present=False)

if host.data.service == "app":
    files.line(name="Log at info", path=SETTINGS, line=r"^LOG_LEVEL=.*$", replace="LOG_LEVEL=info")
    files.file(name="Settings private to the app's user", path=SETTINGS, user="stockroom", group="stockroom", mode="600")
    server.shell(name="Restart the app", commands=["sv restart stockroom"])
