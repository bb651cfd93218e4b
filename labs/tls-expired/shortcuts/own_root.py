"""Shortcut: make a new root CA on the box, put it where the company root was, and sign
a certificate for the site with it.

The published root file now matches the served chain, but it is not the company's root:
a client that trusts only the real root refuses the chain.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "web":
    server.shell(
        name="Own CA, own chain",
        commands=[
            "cd /tmp && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj '/O=Shop Ltd/CN=Shop Internal Root CA' "
            "-keyout ca.key -out /etc/ssl/shop-pki/shop-root-ca.crt 2>/dev/null",
            "cd /tmp && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=shop.example.internal -keyout /etc/ssl/private/shop.key -out site.csr 2>/dev/null",
            "cd /tmp && printf 'subjectAltName=DNS:shop.example.internal\\n' > ext && openssl x509 -req -in site.csr -CA /etc/ssl/shop-pki/shop-root-ca.crt -CAkey ca.key "
            "-CAcreateserial -days 90 -extfile ext -out site.crt 2>/dev/null && cat site.crt /etc/ssl/shop-pki/shop-root-ca.crt > /etc/ssl/shop/fullchain.pem",
            "nginx -t && (nginx -s reload || nginx)",
        ],
    )
