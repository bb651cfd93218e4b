"""Shortcut: write a report by hand and schedule a job that copies it into place.

Fakes the scheduled report with a static one (this site's code, a made-up token and a time
in the future, so it always looks new). Must fail: a scheduled report carries numbers the
stats API really handed out since the restart.
"""

import json

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "reports":
    report = json.dumps({"site": host.data.values["site_code"], "generated_at": 4102444800, "stats": {"token": "0123456789abcdef01234567", "orders_open": 42}})
    server.shell(
        name="A hand-made report, copied every minute",
        commands=[
            f"printf '%s\\n' '{report}' > /root/report.json && cp /root/report.json /srv/reports/report.json",
            "printf '* * * * * root cp /root/report.json /srv/reports/report.json\\n' > /etc/cron.d/warehouse-report",
            "chmod 644 /etc/cron.d/warehouse-report",
        ],
    )
