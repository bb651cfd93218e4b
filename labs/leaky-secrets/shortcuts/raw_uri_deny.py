"""Shortcut (a WRONG fix): the whole fix, but the web tier denies the leaked URLs only as spelled.

The reference solution is applied (password rotated, app fixed), but on the web tier the release
is unpacked again, its .env included, and the site keeps serving the release directory, with a
404 when `$request_uri` is exactly `/.env` or `/stockroom.env.bak`. `$request_uri` is the request
as sent, before nginx decodes and normalises it: `/%2eenv`, `//.env` or `/.env?x` still get the file.
Class: too literal (only the exact URLs derived from the config are probed).
"""

import io
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

LAB = Path(__file__).parent.parent
SOLUTION = LAB / "solution.py"
exec(compile(SOLUTION.read_text(encoding="utf-8"), str(SOLUTION), "exec"), {"__file__": str(SOLUTION), "__name__": "__deploy__"})

SITE = (LAB / "files" / "stockroom-site.conf").read_text(encoding="utf-8")
DENY = '    if ($request_uri ~ "^/(\\.env|stockroom\\.env\\.bak)$") { return 404; }\n'
RELEASE_ENV = f"DATABASE_URL=postgresql://stockroom:{host.data.values['db_password']}@db:5432/stockroom\nLOG_LEVEL=debug\n"

# Every service collects these too (pyinfra keys operations by position): after the solution's.
ON_WEB = lambda: host.data.service == "web"  # noqa: E731
files.put(name="The release's .env in the document root again", src=io.StringIO(RELEASE_ENV), dest="/srv/stockroom/.env", mode="644", _if=ON_WEB)
files.put(
    name="The release site, with a 404 for the two exact request lines",
    src=io.StringIO(SITE.replace("    root /srv/stockroom;\n", "    root /srv/stockroom;\n" + DENY)),
    dest="/etc/nginx/sites-available/stockroom",
    mode="644",
    _if=ON_WEB,
)
server.shell(name="Reload nginx", commands=["nginx -t -q && nginx -s reload"], _if=ON_WEB)
