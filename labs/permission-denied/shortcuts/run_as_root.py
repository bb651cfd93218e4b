"""Shortcut: run the upload service as root, with the default umask.

Fakes the fix by giving the service root's rights: every write succeeds and new files are
world-readable (0644), so the publisher reads them. Must fail: the services run unprivileged
and nothing is open to every user.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "media":
    server.shell(
        name="Drop the user switch and the private umask",
        commands=[
            "sed -i -e 's/^exec runuser -u uploads -- /exec /' -e 's/^umask .*/umask 022/' /etc/sv/uploads/run",
            "chmod 644 /srv/media/uploads/*",
            "sv restart /etc/service/uploads",
        ],
    )
