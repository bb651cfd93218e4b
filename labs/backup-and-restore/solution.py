"""The reference build: a backup script in the workspace (custom-format pg_dump of shop, written
under a temporary name and renamed, then all but the three newest dumps removed) run every
minute by an /etc/cron.d entry as the postgres user, and once right away."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

SCRIPT = """#!/bin/sh
# Dump the shop database into /backups and keep the three newest dumps.
set -eu
cd /backups
name="shop-$(date -u +%Y%m%d-%H%M%S).dump"
pg_dump -Fc -d shop -f ".$name.part"
mv ".$name.part" "$name"
ls -1 shop-*.dump | sort -r | tail -n +4 | xargs -r rm -f --
"""

CRON = "* * * * * postgres /workspace/backup-shop >>/var/lib/postgresql/backup-shop.log 2>&1\n"

if host.data.service == "db":
    script = files.put(name="The backup script", src=StringIO(SCRIPT), dest="/workspace/backup-shop", mode="755")
    cron = files.put(name="Every minute, as postgres", src=StringIO(CRON), dest="/etc/cron.d/backup-shop", user="root", group="root", mode="644")
    server.shell(name="A first dump right away", commands=["runuser -u postgres -- /workspace/backup-shop"], _if=any_changed(script, cron))
