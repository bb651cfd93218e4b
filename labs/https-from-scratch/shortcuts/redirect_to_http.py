"""HTTPS done right, but the plain-HTTP port "redirects" to another http:// address (a typo that
ships often), so visitors never reach HTTPS."""

from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent.parent / "files"

if host.data.service == "web":
    files.directory(name="tls folder", path="/etc/nginx/tls", mode="755")
    server.shell(name="Issue the certificate", commands=[
        "cd /etc/nginx/tls && openssl ecparam -name prime256v1 -genkey -noout -out shop.key"
        " && openssl req -new -key shop.key -subj /CN=shop.lab.internal -out shop.csr"
        " && printf 'subjectAltName=DNS:shop.lab.internal\\n' > shop.ext"
        " && openssl x509 -req -in shop.csr -CA /workspace/ca/company-ca.crt -CAkey /workspace/ca/company-ca.key"
        " -CAcreateserial -days 90 -sha256 -extfile shop.ext -out shop.crt && chmod 644 shop.key",
    ])
    site = (FILES / "shop-https.conf").read_text().replace("return 301 https://", "return 301 http://")
    files.put(name="HTTPS site, redirect to http", src=StringIO(site), dest="/etc/nginx/sites-available/shop", mode="644")
    server.shell(name="Reload", commands=["nginx -t && nginx -s reload"])
