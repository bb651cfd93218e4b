"""Prepare the shop's web server: releases v1 (live) and v2 (waiting), nginx in front of v1,
the boot records, and the ticket's README in the learner's workspace."""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent / "files"

if host.data.service == "web":
    files.put(name="Instance token", src=StringIO(host.data.values["token"] + "\n"), dest="/etc/shop/token", mode="644")
    for release in ("v1", "v2"):
        files.directory(name=f"Release {release}", path=f"/srv/releases/{release}", mode="755")
        server.shell(name=f"Release {release}'s code", commands=[f"cp /usr/local/share/releasebox/app.py /srv/releases/{release}/app.py"])
    files.link(name="v1 is live", path="/srv/current", target="releases/v1")
    files.put(name="Live port", src=StringIO("8001\n"), dest="/etc/shop/live-port", mode="644")
    files.put(name="nginx sends requests to v1", src=StringIO("upstream shop { server 127.0.0.1:8001; }\n"), dest="/etc/nginx/shop-upstream.conf", mode="644")
    files.put(name="The shop site", src=str(FILES / "shop.conf"), dest="/etc/nginx/sites-available/shop", mode="644")
    files.link(name="Enable the shop site", path="/etc/nginx/sites-enabled/shop", target="/etc/nginx/sites-available/shop")
    files.directory(name="The learner's workspace", path="/workspace", mode="755")
    files.put(name="The ticket's README", src=str(FILES / "README"), dest="/workspace/README", mode="644")
    server.shell(name="Start v1 and nginx", commands=["WARMUP=0 appctl start v1 8001", "nginx -t && (nginx -s reload || nginx)"])
