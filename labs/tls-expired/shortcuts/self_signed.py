"""Shortcut: replace the certificate with a fresh self-signed one for the right name.

nginx starts, the certificate is current and names shop.example.internal, but nothing
chains it to the company's root CA.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "web":
    server.shell(
        name="Self-signed certificate",
        commands=[
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 90 -subj /CN=shop.example.internal "
            "-addext subjectAltName=DNS:shop.example.internal -keyout /etc/ssl/private/shop.key -out /etc/ssl/shop/fullchain.pem 2>/dev/null",
            "nginx -t && (nginx -s reload || nginx)",
        ],
    )
