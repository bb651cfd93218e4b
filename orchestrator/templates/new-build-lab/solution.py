"""The reference build: what a careful engineer would ship (`labs solve`, `labs validate`).

It must make every objective pass and be idempotent: a second run changes nothing.
"""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

FILES = Path(__file__).parent / "files"

if host.data.service == "web":
    site = files.put(name="Release site", src=str(FILES / "release.conf"), dest="/etc/nginx/sites-available/release", mode="644")
    enabled = files.link(name="Enable the release site", path="/etc/nginx/sites-enabled/release", target="/etc/nginx/sites-available/release")
    default = files.file(name="Disable the default site", path="/etc/nginx/sites-enabled/default", present=False)
    server.shell(
        name="Validate the configuration, then reload nginx (or start it)",
        commands=["nginx -t", "nginx -s reload || nginx"],
        _if=any_changed(site, enabled, default),
    )
