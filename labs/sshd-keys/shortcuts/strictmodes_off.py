"""Shortcut: turn StrictModes off and make authorized_keys world-readable.

sshd then reads the keys from a 0777 ~/.ssh under a group-writable home, and the
key login works, but anyone on the box could swap deploy's keys. The key-files
objective must fail. The Match block is removed properly.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "server":
    server.shell(
        name="StrictModes off, keys readable by all, Match block gone",
        commands=[
            "chmod 644 /home/deploy/.ssh/authorized_keys",
            "sed -i '/^Match Address/,$d' /etc/ssh/sshd_config",
            "echo 'StrictModes no' >> /etc/ssh/sshd_config",
            "sshd -t && { pkill -x sshd; sleep 0.3; /usr/sbin/sshd -E /var/log/sshd.log; }",
        ],
    )
