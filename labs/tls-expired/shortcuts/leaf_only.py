"""Shortcut: serve the renewed certificate and its key, without any intermediate.

The certificate is current, matches its key and names the site, and a browser with the
intermediate cached might even accept it; a client that trusts only the root cannot.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "web":
    server.shell(
        name="Renewed leaf alone",
        commands=[
            "cp /root/renewal/shop.example.internal.crt /etc/ssl/shop/fullchain.pem",
            "cp /root/renewal/shop.example.internal.key /etc/ssl/private/shop.key",
            "nginx -t && (nginx -s reload || nginx)",
        ],
    )
