"""Shortcut (a WRONG fix): the whole fix, except that the web tier's lives only in the running nginx.

The reference solution is applied (leaks closed, password rotated), then the release's .env and
the old site configuration are put back on the web tier's disk without a reload, as when a hand
edit is undone by the next release: the running nginx keeps the fixed site in memory and serves
no secret, until the web container restarts and nginx starts from the configuration on disk,
serving the files again.
Class: persistence proven on one service (a fix that lives only in a running process).
"""

import io
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files

LAB = Path(__file__).parent.parent
SOLUTION = LAB / "solution.py"
exec(compile(SOLUTION.read_text(encoding="utf-8"), str(SOLUTION), "exec"), {"__file__": str(SOLUTION), "__name__": "__deploy__"})

# Every service collects these too (pyinfra keys operations by position): after the solution's.
ON_WEB = lambda: host.data.service == "web"  # noqa: E731
RELEASE_ENV = f"DATABASE_URL=postgresql://stockroom:{host.data.values['db_password']}@db:5432/stockroom\nLOG_LEVEL=debug\n"
files.put(name="The release's .env back in the document root", src=io.StringIO(RELEASE_ENV), dest="/srv/stockroom/.env", mode="644", _if=ON_WEB)
files.put(name="The old site back on disk, no reload", src=str(LAB / "files" / "stockroom-site.conf"), dest="/etc/nginx/sites-available/stockroom", mode="644", _if=ON_WEB)
