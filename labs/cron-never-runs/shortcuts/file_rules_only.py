"""Shortcut: make cron load the file (mode 0644, a final newline) and stop there.

Cron now runs the job every minute, but with cron's own environment: `report-build` is not
on its PATH and the site code is not set. Must fail: no report gets written.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "reports":
    server.shell(
        name="Fix the file's mode and last line only",
        commands=["chmod 644 /etc/cron.d/warehouse-report", "echo >> /etc/cron.d/warehouse-report"],
    )
