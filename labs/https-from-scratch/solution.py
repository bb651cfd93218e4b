"""The reference build: a certificate for shop.lab.internal signed by the company CA, TLS at nginx,
plain HTTP redirected to HTTPS with its path, all in configuration files (so it survives restarts).

Idempotent: the certificate is issued once (when its folder is first made) and nginx reloads only
when something changed.
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

ISSUE = [
    "cd /etc/nginx/tls",
    "openssl ecparam -name prime256v1 -genkey -noout -out shop.key",
    "openssl req -new -key shop.key -subj /CN=shop.lab.internal -out shop.csr",
    "printf 'subjectAltName=DNS:shop.lab.internal\\nextendedKeyUsage=serverAuth\\n' > shop.ext",
    "openssl x509 -req -in shop.csr -CA /workspace/ca/company-ca.crt -CAkey /workspace/ca/company-ca.key"
    " -CAcreateserial -days 90 -sha256 -extfile shop.ext -out shop.crt",
    "chown root:www-data shop.key && chmod 640 shop.key",
]

if host.data.service == "web":
    tls = files.directory(name="A folder for the shop's certificate and key", path="/etc/nginx/tls", mode="750", group="www-data")
    issued = server.shell(name="Issue the shop's certificate from the company CA", commands=[" && ".join(ISSUE)], _if=any_changed(tls))
    site = files.put(name="The shop over HTTPS, HTTP redirected", src=str(FILES / "shop-https.conf"), dest="/etc/nginx/sites-available/shop", mode="644")
    server.shell(name="Validate, then reload nginx (or start it)", commands=["nginx -t", RELOAD_NGINX], _if=any_changed(tls, site))
