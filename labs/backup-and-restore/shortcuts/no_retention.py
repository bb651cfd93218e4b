"""Schedule the dump every minute but never remove old ones: the disk fills up."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files

CRON = "* * * * * postgres pg_dump -Fc -d shop -f /backups/shop-$(date -u +\\%Y\\%m\\%d-\\%H\\%M\\%S).dump\n"

if host.data.service == "db":
    files.put(name="Dump every minute, keep everything", src=StringIO(CRON), dest="/etc/cron.d/backup-shop", mode="644")
