"""Shortcut (a WRONG fix): denies the two leaked URLs as the raw request line spells them.

The site keeps serving the release directory, copies included, and answers 404 when
`$request_uri` is exactly `/.env` or `/stockroom.env.bak`. `$request_uri` is the request as
sent, before nginx decodes and normalises it: `/%2eenv`, `//.env` or `/.env?x` still get the file.
Class: too literal (only the exact URLs derived from the config are probed).
"""

import io
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

SITE = (Path(__file__).parent.parent / "files" / "stockroom-site.conf").read_text(encoding="utf-8")
DENY = '    if ($request_uri ~ "^/(\\.env|stockroom\\.env\\.bak)$") { return 404; }\n'

if host.data.service == "web":
    files.put(
        name="404 for the two exact request lines",
        src=io.StringIO(SITE.replace("    root /srv/stockroom;\n", "    root /srv/stockroom;\n" + DENY)),
        dest="/etc/nginx/sites-available/stockroom",
        mode="644",
    )
    server.shell(name="Reload nginx", commands=["nginx -t -q && nginx -s reload"])
