"""A self-signed certificate for shop.lab.internal instead of one from the company CA: TLS
"works" in the browser after clicking through, but clients that trust only the CA refuse it."""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent.parent / "files"

if host.data.service == "web":
    files.directory(name="tls folder", path="/etc/nginx/tls", mode="755")
    server.shell(name="Self-signed certificate", commands=[
        "cd /etc/nginx/tls && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout shop.key"
        " -out shop.crt -days 30 -subj /CN=shop.lab.internal -addext subjectAltName=DNS:shop.lab.internal && chmod 644 shop.key",
    ])
    files.put(name="HTTPS site", src=str(FILES / "shop-https.conf"), dest="/etc/nginx/sites-available/shop", mode="644")
    server.shell(name="Reload", commands=["nginx -t && nginx -s reload"])
