"""Shortcut: turn the limits off instead of sizing them.

client_max_body_size 0 (no limit) and day-long proxy timeouts make both symptoms vanish,
and break the security ceilings the ticket keeps; the API's limit is raised too, so only
the bounds are wrong.
"""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files, server

if host.data.service == "proxy":
    files.put(name="No limits at all", src=StringIO("client_max_body_size 0;\nproxy_read_timeout 1d;\nproxy_send_timeout 1d;\n"), dest="/etc/nginx/conf.d/10-baseline.conf")
    files.replace(name="No limit on uploads", path="/etc/nginx/sites-available/reports", text="client_max_body_size 10m;", replace="client_max_body_size 0;")
    server.shell(name="Reload nginx", commands=["nginx -t && nginx -s reload"])

if host.data.service == "app":
    files.replace(name="API takes anything", path="/etc/report-api/report-api.env", text="MAX_UPLOAD_MB=16", replace="MAX_UPLOAD_MB=4096")
    server.shell(name="Restart the API", commands=["pkill -f '^python3 -u /srv/app/app.py'; sleep 2"])
