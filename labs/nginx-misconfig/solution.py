"""Reference solution for nginx-misconfig (pyinfra deploy). Gives the answer away.

Idempotent: a second run changes nothing (the reload runs only when a file changed).
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
    snippet = files.put(name="Proxy headers snippet: terminate every directive", src=str(FILES / "orders-proxy.conf"), dest="/etc/nginx/snippets/orders-proxy.conf", mode="644")
    site = files.put(name="Orders site: upstream on the app's real port, alias for /static/", src=str(FILES / "orders.conf"), dest="/etc/nginx/sites-available/orders", mode="644")
    server.shell(
        name="Validate, then reload nginx (or start it if it is down)",
        commands=["nginx -t", RELOAD_NGINX],
        _if=any_changed(snippet, site),
    )
