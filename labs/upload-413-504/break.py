"""Break the finance proxy the way change FIN-2291 did (pyinfra deploy).

Three faults at once: a "hardening" baseline in conf.d cuts nginx's upstream read
timeout to 15 s (the 40 s monthly report gets 504); the uploads location allows
10 MB bodies (20 MB statements get 413 from nginx); and the API's own limit was set
to 16 MiB (413 from the app once nginx lets the upload through).
"""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent / "files"

if host.data.service == "proxy":
    files.put(name="Proxy baseline (FIN-2291)", src=str(FILES / "10-baseline.conf"), dest="/etc/nginx/conf.d/10-baseline.conf", mode="644")
    files.put(name="Reports site", src=str(FILES / "reports-site-broken.conf"), dest="/etc/nginx/sites-available/reports", mode="644")
    files.link(name="Enable the reports site", path="/etc/nginx/sites-enabled/reports", target="/etc/nginx/sites-available/reports")
    server.shell(name="Restart nginx with the new config", commands=["nginx -s stop 2>/dev/null; sleep 0.3; nginx -t 2>/dev/null && nginx; true"])

if host.data.service == "app":
    files.put(name="API settings (FIN-2291)", src=str(FILES / "report-api-broken.env"), dest="/etc/report-api/report-api.env", mode="644")
    server.shell(name="Restart the API with its new settings", commands=["pkill -f '^python3 -u /srv/app/app.py'; sleep 1.5; true"])
