"""Break the shop's HTTPS the way the night's renewal did (pyinfra deploy).

Last year's certificate has expired, and nginx still serves it from memory: the renewal
copied the new certificate into fullchain.pem, but next to LAST year's intermediate (the
new certificate was issued by a new one), and left ssl_certificate_key on the old key.
`nginx -s reload` refused the mismatched pair, so the old, expired chain stays in
memory, and at the next restart nginx does not start at all. The instance's CA (root key
derived from `ca_seed`, random intermediates and leaves) is made here, for this break.
"""

import importlib.util
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

LAB = Path(__file__).parent


def _pki():
    spec = importlib.util.spec_from_file_location("tls_expired_pki", LAB / "pki.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if host.data.service == "web":
    pem = _pki().issue(host.data.values["ca_seed"])
    page = f"<!doctype html><title>Shop</title><h1>Shop</h1><p>instance: <code id=\"instance\">{host.data.values['nonce']}</code></p>\n"
    note = (
        "Renewal for shop.example.internal (ticket PKI-3310)\n\n"
        "Your certificate is attached (shop.example.internal.crt); it was issued by\n"
        "'Shop Issuing CA 2026'. The key and CSR are the ones you generated here.\n"
        "Our CA certificates (root and issuing CAs) are published in /etc/ssl/shop-pki/.\n"
        "-- PKI team\n"
    )
    for name, key in {"shop-root-ca.crt": "root", "shop-issuing-ca-2025.crt": "intermediate-2025", "shop-issuing-ca-2026.crt": "intermediate-2026"}.items():
        files.put(name=f"CA certificate {name}", src=StringIO(pem[key]), dest=f"/etc/ssl/shop-pki/{name}", mode="644")
    files.put(name="Renewal: new key", src=StringIO(pem["new-key"]), dest="/root/renewal/shop.example.internal.key", mode="600")
    files.put(name="Renewal: CSR", src=StringIO(pem["new-csr"]), dest="/root/renewal/shop.example.internal.csr", mode="644")
    files.put(name="Renewal: new certificate", src=StringIO(pem["new-leaf"]), dest="/root/renewal/shop.example.internal.crt", mode="644")
    files.put(name="Renewal: the PKI team's note", src=StringIO(note), dest="/root/renewal/NOTE.txt", mode="644")
    files.put(name="Last year's key", src=StringIO(pem["old-key"]), dest="/etc/ssl/private/shop.key", mode="600")
    files.put(name="Last year's chain", src=StringIO(pem["old-leaf"] + pem["intermediate-2025"]), dest="/etc/ssl/shop/fullchain.pem", mode="644")
    files.put(name="Shop page", src=StringIO(page), dest="/srv/shop/index.html", mode="644")
    files.put(name="Shop site", src=str(LAB / "files" / "shop-site.conf"), dest="/etc/nginx/sites-available/shop", mode="644")
    files.link(name="Enable the shop site", path="/etc/nginx/sites-enabled/shop", target="/etc/nginx/sites-available/shop")
    server.shell(name="nginx serves last year's (now expired) chain", commands=["nginx -s stop 2>/dev/null; sleep 0.3; nginx"])
    files.put(name="The renewal: new certificate, old intermediate, old key", src=StringIO(pem["new-leaf"] + pem["intermediate-2025"]), dest="/etc/ssl/shop/fullchain.pem", mode="644")
    server.shell(name="Reload (nginx refuses the mismatched pair and keeps the old chain)", commands=["nginx -s reload; sleep 0.5; true"])
