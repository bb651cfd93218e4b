"""The reference build: the deploy in /workspace/deploy.py (with the nginx site's template it
uses), run once against the lab's target as the learner would. Idempotent: the deploy runs again
only when it changed; `labs check` runs it on fresh targets itself."""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

FILES = Path(__file__).parent / "files"

if host.data.service == "workstation":
    deploy = files.put(name="The deploy", src=str(FILES / "deploy.py"), dest="/workspace/deploy.py", mode="644")
    site = files.put(name="The nginx site's template", src=str(FILES / "orders-site.j2"), dest="/workspace/files/orders-site.j2", mode="644")
    server.shell(name="The deploy, run against the lab's target", commands=["cd /workspace && pyinfra -y inventory.py deploy.py"],
                 _if=any_changed(deploy, site))
