"""Shortcut: repair the key files and flip only PubkeyAuthentication in the Match block.

The bot's key now logs in, but the Match block still turns passwords on for the
internal networks: the probe's password login succeeds and `sshd -T` for an
internal address shows passwordauthentication yes. The password objective must fail.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "server":
    server.shell(
        name="Modes and owner fixed, Match block keeps passwords on",
        commands=[
            "chmod 755 /home/deploy && chmod 700 /home/deploy/.ssh",
            "chown deploy:deploy /home/deploy/.ssh/authorized_keys",
            "sed -i 's/^    PubkeyAuthentication no$/    PubkeyAuthentication yes/' /etc/ssh/sshd_config",
            "sshd -t && { pkill -x sshd; sleep 0.3; /usr/sbin/sshd -E /var/log/sshd.log; }",
        ],
    )
