"""Prepare the lab: the learner's workspace (the ticket's README, the orders app and its front
page, an inventory to try their deploy against the lab's target) and this instance's deploy
key (private half on the workstation, authorised for root on the target). The target itself
stays bare: that is what the deploy builds."""

import hashlib
from io import StringIO
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyinfra import host
from pyinfra.operations import files

FILES = Path(__file__).parent / "files"


def deploy_key(seed: str) -> tuple[str, str]:
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"write-a-deploy:{seed}".encode()).digest())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return private, public + " workstation\n"


PRIVATE, PUBLIC = deploy_key(host.data.values["ssh_seed"])

TRY_INVENTORY = f'''"""Where you try your deploy: the lab's target (a bare Debian host) over ssh.

    cd /workspace && pyinfra -y inventory.py deploy.py

`labs check` runs your deploy.py with an inventory of its own: a FRESH target and host data with
values you have never seen (same keys as below).
"""

hosts = [
    ("target", {{
        "ssh_user": "root",
        "ssh_key": "/root/.ssh/id_ed25519",
        "orders_token": "{host.data.values["try_token"]}",
        "orders_port": 8123,
        "server_name": "orders.lab.internal",
    }}),
]
'''

if host.data.service == "workstation":
    files.directory(name="The deploy key's folder", path="/root/.ssh", mode="700")
    files.put(name="The deploy key", src=StringIO(PRIVATE), dest="/root/.ssh/id_ed25519", mode="600")
    files.directory(name="The learner's workspace", path="/workspace", mode="755")
    files.directory(name="The lab's files", path="/workspace/files", mode="755")
    files.put(name="The ticket's README", src=str(FILES / "README"), dest="/workspace/README", mode="644")
    files.put(name="The orders app", src=str(FILES / "orders.py"), dest="/workspace/files/orders.py", mode="644")
    files.put(name="The front page", src=str(FILES / "index.html.j2"), dest="/workspace/files/index.html.j2", mode="644")
    files.put(name="An inventory to try the deploy", src=StringIO(TRY_INVENTORY), dest="/workspace/inventory.py", mode="644")

if host.data.service == "target":
    files.directory(name="root's ssh folder", path="/root/.ssh", mode="700")
    files.put(name="The workstation's key may log in", src=StringIO(PUBLIC), dest="/root/.ssh/authorized_keys", mode="600")
