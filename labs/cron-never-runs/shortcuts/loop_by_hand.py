"""Shortcut: run the report in a loop started by hand, from a login shell.

Fakes the schedule with a background loop that has the profile's PATH and variables: it
writes real reports until the host restarts, then nothing starts it again. Must fail: the
job must run on its own after a restart.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "reports":
    server.shell(
        name="A loop in the background",
        commands=["nohup sh -c 'PATH=$PATH:/opt/report/bin; set -a; . /etc/warehouse/report.env; set +a; while :; do report-build; sleep 60; done' >/dev/null 2>&1 &"],
    )
