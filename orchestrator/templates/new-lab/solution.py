"""The reference solution: a pyinfra deploy that `labs solve` and `labs validate` run.

It gives the answer away, so learners never see it unless they ask. It is a proof that
the lab is solvable, and `labs validate` holds it to three rules:
- after it runs, every objective in test_objectives.py passes;
- it is idempotent: a second run changes nothing. Use declarative operations (files.put,
  files.file, files.line, ...) that compare before they act, and guard commands, which
  always count as a change, with ``_if=any_changed(...)`` so they run only when a file changed;
- it fixes the lab the way a careful engineer would (here: 644, not 777), since learners
  read it (and SOLUTION.md) after the lab.
"""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

FILES = Path(__file__).parent / "files"

# nginx -s reload returns at once, and the old workers keep serving the old configuration until
# they exit: wait (bounded) until they have, so the first check sees the new one.
RELOAD_NGINX = (
    "old=$(pgrep -d ' ' -f '^nginx: worker process'); "
    "if [ -s /run/nginx.pid ] && kill -0 $(cat /run/nginx.pid) 2>/dev/null; then nginx -s reload; else nginx; fi || exit 1; "
    "for i in $(seq 200); do gone=1; for p in $old; do kill -0 $p 2>/dev/null && gone=0; done; [ $gone = 1 ] && exit 0; sleep 0.1; done; "
    "echo 'nginx still runs workers with the old configuration after 20 s' >&2; exit 1"
)

if host.data.service == "web":
    site = files.put(name="Status site listens on port 80", src=str(FILES / "status.conf"), dest="/etc/nginx/sites-available/status", mode="644")
    files.file(name="Status page readable by nginx's workers", path="/srv/status/index.html", mode="644")
    server.shell(
        name="Validate the configuration, then reload nginx (or start it if it is down)",
        commands=["nginx -t", RELOAD_NGINX],
        _if=any_changed(site),  # runs only when the site file changed: a second run does nothing
    )
