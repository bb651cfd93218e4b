"""Reference solution for sshd-keys (pyinfra deploy). Gives the answer away.

1. deploy's home and ~/.ssh writable by deploy only (0755 and 0700);
2. authorized_keys owned by deploy, 0600, so sshd (reading it as deploy) can;
3. the Match block for the internal networks removed: keys on, passwords off,
   for every client.

sshd is validated (`sshd -t`) and restarted only when its configuration changed.
"""

from pyinfra import host
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

if host.data.service == "server":
    files.directory(name="deploy's home: writable by deploy only", path="/home/deploy", user="deploy", group="deploy", mode="755")
    files.directory(name="~/.ssh: deploy's alone", path="/home/deploy/.ssh", user="deploy", group="deploy", mode="700")
    files.file(name="authorized_keys: owned and readable by deploy", path="/home/deploy/.ssh/authorized_keys", user="deploy", group="deploy", mode="600")
    removed = [
        files.line(name=f"Remove {line!r}", path="/etc/ssh/sshd_config", line=rf"^\s*{line}$", present=False)
        for line in (
            r"Match Address 10\.0\.0\.0/8,172\.16\.0\.0/12,192\.168\.0\.0/16",
            r"PasswordAuthentication yes",
            r"PubkeyAuthentication no",
            r"# MIG-311: the old bastion .*",
            r"# retired\. Temporary! .*",
        )
    ]
    server.shell(
        name="Validate, then restart sshd",
        commands=["sshd -t", "pkill -x sshd; sleep 0.3; /usr/sbin/sshd -E /var/log/sshd.log"],
        _if=any_changed(*removed),
    )
