"""Break the environment: a pyinfra deploy that `labs start` and `labs reset` run.

How it runs:
- once for each service's container, as root, always on a FRESH container made from the
  service's image (reset throws the old containers away), so it must create every fault
  itself and must not depend on anything a previous run left behind;
- ``host.data.service`` is the service this run is for; ``host.data.values`` holds the
  instance's random values (see ``values:`` in lab.yaml); ``host.data.lab_dir`` is this folder;
- only pyinfra operations change the container: plain Python here runs on YOUR machine,
  while pyinfra collects the operations, before anything is executed.

Break things the way real incidents do, so the learner diagnoses with real tools. Prefer
operations that need no facts (files.put, files.link, server.shell): each fact costs a
round trip into the container.
"""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent / "files"

PAGE = """<!doctype html>
<title>Status</title>
<h1>All systems operational</h1>
<p>page {token}</p>
"""

if host.data.service == "web":
    files.directory(name="Status page folder", path="/srv/status", mode="755")
    # Fault 1: the page is readable by root only; nginx's workers (www-data) get 403.
    files.put(
        name="Status page, readable by root only",
        src=StringIO(PAGE.format(token=host.data.values["page_token"])),
        dest="/srv/status/index.html",
        user="root",
        group="root",
        mode="600",
    )
    # Fault 2: the site listens on a port the container does not publish.
    files.put(name="Status site (wrong port)", src=str(FILES / "status-broken.conf"), dest="/etc/nginx/sites-available/status", mode="644")
    files.link(name="Enable the status site", path="/etc/nginx/sites-enabled/status", target="/etc/nginx/sites-available/status")
    # Apply it as last night's change did. A break may be heavy-handed: it runs on a
    # fresh container and is never checked for idempotence.
    server.shell(name="Reload nginx with the new site", commands=["nginx -t && (nginx -s reload || nginx)"])
