"""Shortcut: `chmod -R 777` the uploads folder and create files with umask 000.

Fakes the fix by opening the uploads to every user on the host: the upload service can write
and the publisher can read, but so can anyone else. Must fail: uploads are private.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "media":
    server.shell(
        name="Open everything",
        commands=[
            "chmod -R 777 /srv/media/uploads",
            "sed -i 's/^umask .*/umask 000/' /etc/sv/uploads/run",
            "sv restart /etc/service/uploads",
        ],
    )
