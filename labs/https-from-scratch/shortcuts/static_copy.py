"""Trusted HTTPS, but nginx answers with a saved copy of the shop's page instead of proxying to the
app: the padlock is there, the shop is not."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files, server

SITE = """
server { listen 80 default_server; return 301 https://shop.lab.internal$request_uri; }
server {
    listen 443 ssl default_server;
    ssl_certificate /etc/nginx/tls/shop.crt;
    ssl_certificate_key /etc/nginx/tls/shop.key;
    location / { default_type text/html; return 200 '<h1>Orders dashboard</h1><p>instance: <code id="instance">%s</code></p>'; }
}
"""

if host.data.service == "web":
    files.directory(name="tls folder", path="/etc/nginx/tls", mode="755")
    server.shell(name="Issue the certificate", commands=[
        "cd /etc/nginx/tls && openssl ecparam -name prime256v1 -genkey -noout -out shop.key"
        " && openssl req -new -key shop.key -subj /CN=shop.lab.internal -out shop.csr"
        " && printf 'subjectAltName=DNS:shop.lab.internal\\n' > shop.ext"
        " && openssl x509 -req -in shop.csr -CA /workspace/ca/company-ca.crt -CAkey /workspace/ca/company-ca.key"
        " -CAcreateserial -days 90 -sha256 -extfile shop.ext -out shop.crt && chmod 644 shop.key",
    ])
    files.put(name="A static copy of the page", src=StringIO(SITE % host.data.values["nonce"]), dest="/etc/nginx/sites-available/shop", mode="644")
    server.shell(name="Reload", commands=["nginx -t && nginx -s reload"])
