"""The cron-never-runs lab end to end on the real engine, through the real `labs` command.

Broken → the scheduled-report objectives fail at once (cron would load no job) → the
reference solution → all pass after cron's next run → a second run changes nothing. Two
other valid fixes pass (root's own crontab with its environment set there; a line in
/etc/crontab that reads the settings file), and the known wrong fixes in shortcuts/ fail
(a static report, a loop started by hand, the file rules fixed but not the environment).
Each passing check waits for the top of a minute, so this file takes several minutes.
"""

from __future__ import annotations

import pytest

from lab_driver import LabDriver

pytestmark = pytest.mark.docker

SERVICE = "reports"
LAB = "cron-never-runs"
SCHEDULED = {"test_report_written_on_schedule", "test_report_for_this_site", "test_report_has_fresh_numbers"}


ALTERNATIVES = {
    # root's own crontab (no user field), its environment set in the crontab
    "root-crontab": (
        ". /etc/warehouse/report.env && printf 'PATH=/usr/bin:/bin:/opt/report/bin\\nREPORT_SITE=%s\\n* * * * * report-build\\n' \"$REPORT_SITE\" | crontab -"
    ),
    # a line in /etc/crontab with an absolute path, the settings read from their file
    "etc-crontab": "echo '* * * * * root env $(grep -v \"^#\" /etc/warehouse/report.env) /opt/report/bin/report-build' >> /etc/crontab",
}


def test_alternative_fixes_pass(labs, lab_instance, instance_name):
    LabDriver(labs, LAB, instance_name, lab_instance).alternatives_pass(ALTERNATIVES, SERVICE)


