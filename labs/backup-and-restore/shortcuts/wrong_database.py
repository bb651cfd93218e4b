"""Schedule `pg_dump` with retention but without naming the database (the same trap as a
schema-only dump: a file that restores no shop data): as postgres it dumps the
empty `postgres` database, which restores no shop at all."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files

SCRIPT = """#!/bin/sh
cd /backups
pg_dump -Fc -f "shop-$(date -u +%Y%m%d-%H%M%S).dump"
ls -1 shop-*.dump | sort -r | tail -n +4 | xargs -r rm -f --
"""

if host.data.service == "db":
    files.put(name="Backup script without -d", src=StringIO(SCRIPT), dest="/workspace/backup-shop", mode="755")
    files.put(name="Every minute", src=StringIO("* * * * * postgres /workspace/backup-shop\n"), dest="/etc/cron.d/backup-shop", mode="644")
