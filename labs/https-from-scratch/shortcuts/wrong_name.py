"""A certificate from the company CA, but with the name only in the Common Name (no
subjectAltName): old tutorials do this, and modern clients refuse the name."""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent.parent / "files"

if host.data.service == "web":
    files.directory(name="tls folder", path="/etc/nginx/tls", mode="755")
    server.shell(name="CA-signed certificate without a subjectAltName", commands=[
        "cd /etc/nginx/tls && openssl ecparam -name prime256v1 -genkey -noout -out shop.key"
        " && openssl req -new -key shop.key -subj /CN=shop.lab.internal -out shop.csr"
        " && openssl x509 -req -in shop.csr -CA /workspace/ca/company-ca.crt -CAkey /workspace/ca/company-ca.key"
        " -CAcreateserial -days 90 -sha256 -out shop.crt && chmod 644 shop.key",
    ])
    files.put(name="HTTPS site", src=str(FILES / "shop-https.conf"), dest="/etc/nginx/sites-available/shop", mode="644")
    server.shell(name="Reload", commands=["nginx -t && nginx -s reload"])
