"""Reference solution for upload-413-504 (pyinfra deploy). Gives the answer away.

nginx: uploads up to 32 MB in the uploads location, 90 s to read a report's answer in
the reports location (the 15 s baseline stays for everything else); the API: 32 MiB.
Idempotent: a second run changes nothing (reload and restart run only on a change).
"""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

FILES = Path(__file__).parent / "files"

# nginx -s reload returns at once, and the old workers keep serving the old configuration until
# they exit: wait (bounded) until they have, so the first check sees the new one.
RELOAD_NGINX = (
    "old=$(pgrep -d ' ' -f '^nginx: worker process'); "
    "if [ -s /run/nginx.pid ] && kill -0 $(cat /run/nginx.pid) 2>/dev/null; then nginx -s reload; else nginx; fi || exit 1; "
    "for i in $(seq 200); do gone=1; for p in $old; do kill -0 $p 2>/dev/null && gone=0; done; [ $gone = 1 ] && exit 0; sleep 0.1; done; "
    "echo 'nginx still runs workers with the old configuration after 20 s' >&2; exit 1"
)

if host.data.service == "proxy":
    site = files.put(name="Reports site: room for 20 MB uploads, time for 40 s reports", src=str(FILES / "reports-site.conf"), dest="/etc/nginx/sites-available/reports", mode="644")
    server.shell(
        name="Validate, then reload nginx (or start it if it is down)",
        commands=["nginx -t", RELOAD_NGINX],
        _if=any_changed(site),
    )

if host.data.service == "app":
    settings = files.put(name="API settings: 32 MiB uploads", src=str(FILES / "report-api.env"), dest="/etc/report-api/report-api.env", mode="644")
    server.shell(
        name="Restart the API (its supervisor starts it again with the new settings)",
        commands=["pkill -f '^python3 -u /srv/app/app.py'; for i in $(seq 50); do sleep 0.2; curl -fsS -o /dev/null http://127.0.0.1:8000/healthz && exit 0; done; exit 1"],
        _if=any_changed(settings),
    )
