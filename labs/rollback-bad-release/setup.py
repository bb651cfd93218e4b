"""Prepare the server as this morning's deploy left it: three releases, the newest (v42, with a
bug in the orders page) live, the team's deploy tool, and the ticket's README."""

import sys
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

sys.path.insert(0, str(Path(__file__).parent))
from releases import BAD, RELEASES, _BUG  # noqa: E402

FILES = Path(__file__).parent / "files"

if host.data.service == "web":
    files.put(name="Instance token", src=StringIO(host.data.values["token"] + "\n"), dest="/etc/shop/token", mode="644")
    for release in RELEASES:
        files.directory(name=f"Release {release}", path=f"/srv/releases/{release}", mode="755")
        server.shell(name=f"Release {release}'s code", commands=[f"cp /usr/local/share/releasebox/app.py /srv/releases/{release}/app.py"])
    old, new = _BUG
    server.shell(name="This morning's release carries a bug", commands=[f"sed -i 's/{old}/{new}/' /srv/releases/{BAD}/app.py"])
    files.put(name="Live port", src=StringIO("8001\n"), dest="/etc/shop/live-port", mode="644")
    files.put(name="nginx in front", src=StringIO("upstream shop { server 127.0.0.1:8001; }\n"), dest="/etc/nginx/shop-upstream.conf", mode="644")
    files.put(name="The shop site", src=str(FILES / "shop.conf"), dest="/etc/nginx/sites-available/shop", mode="644")
    files.link(name="Enable the shop site", path="/etc/nginx/sites-enabled/shop", target="/etc/nginx/sites-available/shop")
    files.directory(name="The learner's workspace", path="/workspace", mode="755")
    files.put(name="The ticket's README", src=str(FILES / "README"), dest="/workspace/README", mode="644")
    server.shell(name="This morning's deploy", commands=["nginx -t && (nginx -s reload || nginx)", f"deploy-release {BAD}"])
