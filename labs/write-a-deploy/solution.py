"""The reference build: the deploy in /workspace/deploy.py (with the nginx site's template it
uses). Idempotent: it only writes the learner's files; `labs check` runs the deploy."""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files

FILES = Path(__file__).parent / "files"

if host.data.service == "workstation":
    files.put(name="The deploy", src=str(FILES / "deploy.py"), dest="/workspace/deploy.py", mode="644")
    files.put(name="The nginx site's template", src=str(FILES / "orders-site.j2"), dest="/workspace/files/orders-site.j2", mode="644")
