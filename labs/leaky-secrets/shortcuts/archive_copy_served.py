"""Shortcut (a WRONG fix): packs the leaked files into an archive left in the web root.

`.env` and `stockroom.env.bak` are removed from /srv/stockroom, but "kept for the record" in
`release-settings.tar.gz` next to them, which nginx serves like any other file there. A grep
over the web root does not see the password inside the compressed archive; a download does.
Class: too literal (renamed copies and archives still served).
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "web":
    server.shell(
        name="Archive the settings files inside the web root, then remove them",
        commands=[
            "cd /srv/stockroom && tar czf release-settings.tar.gz .env stockroom.env.bak && rm -f .env stockroom.env.bak",
        ],
    )
