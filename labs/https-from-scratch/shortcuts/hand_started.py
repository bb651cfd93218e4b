"""A correct certificate and config, but only in a second nginx started by hand from a config in
/tmp, while /etc/nginx is unchanged: everything works until the first restart."""

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
    files.put(name="HTTPS site kept out of /etc/nginx", src=str(FILES / "shop-https.conf"), dest="/tmp/shop-https.conf", mode="644")
    server.shell(name="A second nginx, by hand", commands=[
        "nginx -s stop; sleep 1; printf 'pid /tmp/nginx2.pid;\\nevents {}\\nhttp { include /tmp/shop-https.conf; }\\n' > /tmp/nginx2.conf && nginx -c /tmp/nginx2.conf",
    ])
