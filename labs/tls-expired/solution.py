"""Reference solution for tls-expired (pyinfra deploy). Gives the answer away.

The renewed certificate followed by the intermediate that issued it (Shop Issuing CA
2026) becomes the served chain, and the renewal's key replaces last year's, at the paths
nginx already names; nginx is reloaded, or started if it is down. Idempotent: the files
are compared before they are written, and nginx is touched only when one changed.
"""

from io import StringIO

from pyinfra import host
from pyinfra.facts.server import Command
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

# nginx -s reload returns at once, and the old workers keep serving the old configuration until
# they exit: wait (bounded) until they have, so the first check sees the new one.
RELOAD_NGINX = (
    "old=$(pgrep -d ' ' -f '^nginx: worker process'); "
    "if [ -s /run/nginx.pid ] && kill -0 $(cat /run/nginx.pid) 2>/dev/null; then nginx -s reload; else nginx; fi || exit 1; "
    "for i in $(seq 200); do gone=1; for p in $old; do kill -0 $p 2>/dev/null && gone=0; done; [ $gone = 1 ] && exit 0; sleep 0.1; done; "
    "echo 'nginx still runs workers with the old configuration after 20 s' >&2; exit 1"
)

if host.data.service == "web":
    leaf = host.get_fact(Command, command="cat /root/renewal/shop.example.internal.crt")
    issuer = host.get_fact(Command, command="cat /etc/ssl/shop-pki/shop-issuing-ca-2026.crt")
    key = host.get_fact(Command, command="cat /root/renewal/shop.example.internal.key")
    chain = files.put(name="Full chain: the renewed certificate, then the CA that issued it", src=StringIO(f"{leaf.strip()}\n{issuer.strip()}\n"), dest="/etc/ssl/shop/fullchain.pem", mode="644")
    private = files.put(name="The renewed certificate's key, readable by root only", src=StringIO(f"{key.strip()}\n"), dest="/etc/ssl/private/shop.key", mode="600")
    server.shell(
        name="Validate, then reload nginx (or start it if it is down)",
        commands=["nginx -t", RELOAD_NGINX],
        _if=any_changed(chain, private),
    )
