"""Shortcut: fix only the key, keeping the chain the renewal wrote.

The renewed certificate and its key now match, so nginx loads them, but the chain still
carries last year's intermediate, which did not issue the new certificate.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "web":
    server.shell(
        name="New key, chain as the renewal left it",
        commands=["cp /root/renewal/shop.example.internal.key /etc/ssl/private/shop.key", "nginx -t && (nginx -s reload || nginx)"],
    )
