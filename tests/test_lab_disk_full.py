"""The disk-full lab end to end on the real engine, through the real `labs` command.

Broken → uploads, space, rotation and restart objectives fail → the reference solution →
all pass → a second run changes nothing. Two other valid fixes pass (the shipper restarted
and a postrotate reopen; the deleted file truncated through /proc and copytruncate), and
the known wrong fixes in shortcuts/ fail.
"""

from __future__ import annotations

import pytest

from lab_driver import LabDriver

pytestmark = pytest.mark.docker

SERVICE = "files"
LAB = "disk-full"
ALL = {"test_uploads_work", "test_space_is_back", "test_earlier_uploads_kept", "test_rotation_will_keep_space_free", "test_survives_restart"}


POSTROTATE = r"""/srv/data/log/uploads.log {
    size 4M
    rotate 2
    compress
    delaycompress
    create 0644 uploads uploads
    postrotate
        sv hup /etc/service/uploads
    endscript
}
"""

ALTERNATIVES = {
    # the holder restarted; rotation renames and the service reopens its log on SIGHUP
    "restart-and-postrotate": (
        "sv restart /etc/service/shipper && : > /srv/data/log/uploads.log"
        f" && printf '%s' '{POSTROTATE}' > /etc/logrotate.d/uploads && ln -s /etc/sv/cron /etc/service/cron"
    ),
    # the deleted file emptied through the holder's descriptor; copytruncate; the old log kept off the disk
    "truncate-through-proc": (
        "for fd in /proc/[0-9]*/fd/*; do case \"$(readlink $fd)\" in *'(deleted)') : > $fd;; esac; done"
        " && gzip -c /srv/data/log/uploads.log > /var/tmp/uploads-before-incident.log.gz && truncate -s 0 /srv/data/log/uploads.log"
        " && sed -i -e 's#/srv/data/logs/#/srv/data/log/#' -e 's#create 0640 uploads uploads#copytruncate#' /etc/logrotate.d/uploads"
        " && ln -s /etc/sv/cron /etc/service/cron"
    ),
}


def test_alternative_fixes_pass(labs, lab_instance, instance_name):
    LabDriver(labs, LAB, instance_name, lab_instance).alternatives_pass(ALTERNATIVES, SERVICE)


