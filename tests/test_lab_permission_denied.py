"""The permission-denied lab end to end on the real engine, through the real `labs` command.

Broken → uploads, the publisher and the restart objectives fail → the reference solution →
all pass → a second run changes nothing. Two other valid fixes pass (the user's old uid back
with `media` as its primary group; default ACLs instead of setgid and umask), and the known
wrong fixes in shortcuts/ fail (world-open files, services running as root, the owner fixed
and nothing else).
"""

from __future__ import annotations

import pytest

from lab_driver import LabDriver

pytestmark = pytest.mark.docker

SERVICE = "media"
LAB = "permission-denied"
ALL = {
    "test_upload_stored",
    "test_publisher_serves_new_upload",
    "test_publisher_serves_earlier_uploads",
    "test_uploads_private",
    "test_survives_restart",
}


ALTERNATIVES = {
    # the user gets its old uid back, `media` becomes its primary group, the umask lets the group read
    "old-uid-primary-group": (
        "sv stop /etc/service/uploads && usermod -u 1500 uploads && usermod -g media uploads"
        " && chown uploads:media /srv/media/uploads/hotfix-banner.jpg && chmod 640 /srv/media/uploads/hotfix-banner.jpg"
        " && sed -i 's/^umask 077$/umask 027/' /etc/sv/uploads/run && sv start /etc/service/uploads"
    ),
    # default ACLs give the media group read access to every new file; umask 077 stays
    "default-acl": (
        "chown -R uploads /srv/media/uploads && setfacl -R -m g:media:rX /srv/media/uploads"
        " && setfacl -d -m g:media:rX /srv/media/uploads && sv restart /etc/service/uploads"
    ),
}


def test_alternative_fixes_pass(labs, lab_instance, instance_name):
    LabDriver(labs, LAB, instance_name, lab_instance).alternatives_pass(ALTERNATIVES, SERVICE)


