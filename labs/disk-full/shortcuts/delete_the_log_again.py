"""Shortcut: delete the live upload log to make room.

The service still holds the log open, so its space stays in use, now under no name at all:
the classic way to make a full disk worse. Must fail: the space is not back.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "files":
    server.shell(name="rm the live log", commands=["rm -f /srv/data/log/uploads.log"])
