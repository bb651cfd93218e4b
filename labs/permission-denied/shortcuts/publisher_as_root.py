"""Shortcut: fix the upload folder's owner, then run the publisher as root so it reads anything.

Fakes the publisher's access with root's rights instead of group access. Must fail: both
services run as their own unprivileged users.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "media":
    server.shell(
        name="Publisher as root",
        commands=[
            "chown -R uploads /srv/media/uploads",
            "sed -i 's/^exec runuser -u publisher -- /exec /' /etc/sv/publisher/run",
            "chmod 644 /srv/media/uploads/hotfix-banner.jpg",
            "sv restart /etc/service/publisher",
        ],
    )
