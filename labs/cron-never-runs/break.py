"""Schedule the warehouse report the way it was shipped, with its three faults (pyinfra deploy).

* /etc/cron.d/warehouse-report is group-writable (0664): cron refuses to load it.
* Its only job line has no newline at the end: cron drops an unterminated last line.
* The job relies on a login shell: `report-build` is only on the PATH the root profile
  builds, and REPORT_SITE is only exported by that profile. Cron gives neither.
"""

import io
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent / "files"
SITE = host.data.values["site_code"]

if host.data.service == "reports":
    files.put(name="stats API: runit service", src=str(FILES / "stats.run"), dest="/etc/sv/stats/run", mode="755")
    files.link(name="Enable the stats API", path="/etc/service/stats", target="/etc/sv/stats")
    files.link(name="Enable cron", path="/etc/service/cron", target="/etc/sv/cron")
    files.directory(name="Report folder", path="/srv/reports", user="root", group="root", mode="755")
    settings = (FILES / "report.env").read_text().replace("@SITE@", SITE)
    files.put(name="Report settings for this site", src=io.StringIO(settings), dest="/etc/warehouse/report.env", mode="644")
    snippet = (FILES / "profile-snippet").read_text()
    server.shell(
        name="Root's login shell: the report tool on PATH, the settings exported",
        commands=[f"for f in /root/.profile /root/.bashrc; do printf '\\n%s' {snippet!r} >> $f; done"],
    )
    files.put(
        name="The job: group-writable, no final newline, a login shell's PATH and variables",
        src=str(FILES / "warehouse-report.broken"),
        dest="/etc/cron.d/warehouse-report",
        user="root", group="root", mode="664",
    )
    server.shell(
        name="Wait for cron and the stats API",
        commands=["for i in $(seq 100); do pgrep -x cron >/dev/null && curl -fsS -o /dev/null http://127.0.0.1:8000/healthz && exit 0; sleep 0.2; done; exit 1"],
    )
