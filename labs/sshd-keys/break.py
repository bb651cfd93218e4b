"""Break the app server's ssh the way the "migration" left it (pyinfra deploy).

The CI bot's ed25519 key pair is made for this instance from `bot_key_seed`, and its
public half is installed for `deploy`. Three faults at once:

1. Modes: deploy's home is group-writable (0775) and ~/.ssh is 0777, from a
   `chmod -R` meant for a shared release folder. With StrictModes sshd refuses
   keys from a file whose directories others could change.
2. Owner: authorized_keys was written by root's provisioning script and left
   root:root 0600. sshd reads it as deploy, so it cannot read it at all.
3. A Match block for the internal networks (the lab network among them) turns
   public-key authentication off and passwords on, "for the old bastion".
   Globally passwords are off, so `sshd -T` without -C looks right.
"""

import hashlib
from io import StringIO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyinfra import host
from pyinfra.operations import files, server


def bot_key(seed: str) -> tuple[str, str]:
    """The CI bot's key pair for this instance: (OpenSSH private key, public key line)."""
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"deploy-bot:{seed}".encode()).digest())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return private, f"{public} ci-deploy-bot\n"


MATCH_BLOCK = """
# MIG-311: the old bastion (10.x) still logs in with passwords until it is
# retired. Temporary! -- ops, during the datacentre migration
Match Address 10.0.0.0/8,172.16.0.0/12,192.168.0.0/16
    PasswordAuthentication yes
    PubkeyAuthentication no
"""

if host.data.service == "server":
    values = host.data.values
    private, public = bot_key(values["bot_key_seed"])
    server.shell(
        name="The deploy user, with a password for sudo and the console",
        commands=[
            "useradd --create-home --shell /bin/bash --comment 'deployments' deploy",
            f"echo 'deploy:{values['deploy_password']}' | chpasswd",
            "install -d -o deploy -g deploy -m 0777 /home/deploy/.ssh",
            "install -d -o deploy -g deploy -m 0755 /home/deploy/releases",
            "chmod 0775 /home/deploy",
        ],
    )
    files.put(name="The CI bot's public key, installed by root (root:root 0600)", src=StringIO(public),
              dest="/home/deploy/.ssh/authorized_keys", user="root", group="root", mode="600")
    files.directory(name="A copy of the bot's key for testing", path="/root/deploy-bot", mode="700")
    files.put(name="The bot's private key (copy)", src=StringIO(private), dest="/root/deploy-bot/id_ed25519", mode="600")
    files.put(name="The bot's public key (copy)", src=StringIO(public), dest="/root/deploy-bot/id_ed25519.pub", mode="644")
    server.shell(
        name="sshd_config: passwords off globally, a Match block for the internal networks",
        commands=[
            "sed -i 's/^#PasswordAuthentication yes$/PasswordAuthentication no/' /etc/ssh/sshd_config",
            "grep -qx 'PasswordAuthentication no' /etc/ssh/sshd_config",
        ],
    )
    files.put(name="The migration's Match block", src=StringIO(MATCH_BLOCK), dest="/tmp/match-block", mode="600")
    server.shell(
        name="Append the Match block, restart sshd",
        commands=[
            "cat /tmp/match-block >> /etc/ssh/sshd_config && rm -f /tmp/match-block",
            "sshd -t",
            "pkill -x sshd; sleep 0.3; /usr/sbin/sshd -E /var/log/sshd.log",
        ],
    )
