"""backup-and-restore end to end: two backup builds other than the reference one (a postgres
crontab writing gzipped plain SQL, pruned by modification time; an /etc/cron.d entry run as root
writing uncompressed SQL through su) pass every objective, including the restore and the
restart. The shipped shortcuts are proven to fail by `labs validate`'s shortcuts phase, which
the suite runs over every lab, and the fresh environment by its negative control.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker

LAB = "backup-and-restore"

# A crontab for postgres (installed with `crontab -u`), gzipped plain SQL, newest three by mtime.
CRONTAB = r"""
cat > /workspace/backup.sh <<'EOS'
#!/bin/sh
set -eu
cd /backups
name="shop-$(date -u +%Y%m%d-%H%M%S).dump"
pg_dump -d shop | gzip > "tmp-$name"
mv "tmp-$name" "$name"
ls -1t shop-*.dump | tail -n +4 | while read -r old; do rm -f -- "$old"; done
EOS
chmod 755 /workspace/backup.sh
printf '* * * * * /workspace/backup.sh\n' | crontab -u postgres -
"""

# /etc/cron.d as root, the dump made as postgres through su, plain SQL, pruned by name.
CRON_D_ROOT = r"""
cat > /workspace/backup.sh <<'EOS'
#!/bin/sh
set -eu
stamp=$(date -u +%Y%m%d-%H%M%S)
su postgres -c "pg_dump --no-owner shop" > /backups/.incoming
mv /backups/.incoming "/backups/shop-$stamp.dump"
chown postgres:postgres "/backups/shop-$stamp.dump"
cd /backups && for old in $(ls -1 shop-*.dump | sort | head -n -3); do rm -f "$old"; done
EOS
chmod 700 /workspace/backup.sh
printf 'SHELL=/bin/sh\n* * * * * root /workspace/backup.sh\n' > /etc/cron.d/shop-backups
chmod 644 /etc/cron.d/shop-backups
"""


@pytest.mark.parametrize("build", [CRONTAB, CRON_D_ROOT], ids=["crontab-gzip-sql", "cron-d-root-plain-sql"])
def test_other_valid_backup_builds_pass(labs, lab_instance, instance_name, build):
    assert lab_instance(LAB).returncode == 0
    done = labs("shell", LAB, "db", "--instance", instance_name, "--", "sh", "-c", build)
    assert done.returncode == 0, done.stdout + done.stderr
    result, report = labs.json("check", LAB, "--instance", instance_name, timeout=400)
    assert result.returncode in (0, 1), result.stderr
    failing = {o["id"]: o.get("message") for o in report["objectives"] if not o["passed"]}
    assert failing == {}
