"""The runaway-process lab end to end on the real engine, through the real `labs` command.

Broken → the latency and respawn objectives fail → the reference solution → all pass → a
second run changes nothing. Two other valid fixes pass (a `down` file and the @reboot line
commented out; the runit link and the watchdog script removed), and the known wrong fixes
in shortcuts/ fail (kill it, disable runit only, everything but the @reboot line).
"""

from __future__ import annotations

import pytest

from lab_driver import LabDriver

pytestmark = pytest.mark.docker

SERVICE = "web"
LAB = "runaway-process"


KILL = "pkill -f '[f]eed-sync-watchdog'; sleep 0.5; pkill -9 -f '[f]eed-sync[.]py'; true"
ALTERNATIVES = {
    # runit's `down` file, the @reboot line commented out, the running loop and copies ended
    "down-file-and-comment": (
        "touch /etc/sv/feed-sync/down && sv -w 20 force-stop /etc/service/feed-sync;"
        " sed -i 's|^@reboot|# retired (OPS-5120): @reboot|' /etc/cron.d/shop-maintenance && " + KILL
    ),
    # the service link and the watchdog script removed (the @reboot line then starts nothing);
    # the glob keeps this very command line from matching the pkill pattern
    "remove-link-and-script": (
        "sv -w 20 force-stop /etc/service/feed-sync; rm /etc/service/feed-sync && rm /usr/local/sbin/feed-sync-watch*dog && " + KILL
    ),
}


def test_alternative_fixes_pass(labs, lab_instance, instance_name):
    LabDriver(labs, LAB, instance_name, lab_instance).alternatives_pass(ALTERNATIVES, SERVICE)


