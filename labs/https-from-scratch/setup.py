"""Prepare the shop: plain HTTP through nginx to the app, and the company CA in the workspace.

The CA is made from the instance's ``ca_seed`` (its key is derived from the seed), so the checks
can rebuild the CA's certificate on their own and trust nothing the learner could swap.
"""

import sys
from io import BytesIO
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

sys.path.insert(0, str(Path(__file__).parent))
from lab_ca import ca_certificate_pem, ca_key_pem  # noqa: E402

FILES = Path(__file__).parent / "files"

if host.data.service == "web":
    seed = host.data.values["ca_seed"]
    files.directory(name="The learner's workspace", path="/workspace/ca", mode="755")
    files.put(name="Company CA certificate", src=BytesIO(ca_certificate_pem(seed)), dest="/workspace/ca/company-ca.crt", mode="644")
    files.put(name="Company CA key (keep it private)", src=BytesIO(ca_key_pem(seed)), dest="/workspace/ca/company-ca.key", mode="600")
    files.put(name="The shop site, plain HTTP", src=str(FILES / "shop-http.conf"), dest="/etc/nginx/sites-available/shop", mode="644")
    files.link(name="Enable the shop site", path="/etc/nginx/sites-enabled/shop", target="/etc/nginx/sites-available/shop")
    server.shell(name="Reload nginx", commands=["nginx -t && (nginx -s reload || nginx)"])
