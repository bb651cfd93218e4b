"""A deploy that only works on its second run: it starts the services only when their run
scripts already exist, which pyinfra checks when it plans, before the first run writes them.
On the learner's well-worn target it looks fine; on a fresh host the first run serves nothing."""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

REFERENCE = (Path(__file__).parent.parent / "files" / "deploy.py").read_text()
DEPLOY = REFERENCE.replace("from pyinfra import host\n", "from pyinfra import host\nfrom pyinfra.facts.files import File\n")
DEPLOY = DEPLOY.replace("runit.service(", 'if host.get_fact(File, path="/etc/sv/orders/run"): runit.service(')

if host.data.service == "workstation":
    files.put(name="A deploy that needs two runs", src=StringIO(DEPLOY), dest="/workspace/deploy.py", mode="644")
    files.put(name="The site's template", src=str(Path(__file__).parent.parent / "files" / "orders-site.j2"), dest="/workspace/files/orders-site.j2", mode="644")
    server.shell(name="Tried on the lab's target until it worked", commands=["cd /workspace && pyinfra -y inventory.py deploy.py && pyinfra -y inventory.py deploy.py"])
