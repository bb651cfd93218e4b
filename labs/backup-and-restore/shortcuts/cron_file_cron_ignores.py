"""A correct backup script and a correct-looking /etc/cron.d entry that cron never runs: the file
is group-writable and its line has no trailing newline, so cron skips it."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files

SCRIPT = """#!/bin/sh
set -eu
cd /backups
pg_dump -Fc -d shop -f "shop-$(date -u +%Y%m%d-%H%M%S).dump"
ls -1 shop-*.dump | sort -r | tail -n +4 | xargs -r rm -f --
"""

if host.data.service == "db":
    files.put(name="Backup script", src=StringIO(SCRIPT), dest="/workspace/backup-shop", mode="755")
    files.put(name="An entry cron ignores", src=StringIO("* * * * * postgres /workspace/backup-shop"), dest="/etc/cron.d/backup-shop", mode="664")
