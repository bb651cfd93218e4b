"""Reference solution for disk-full (pyinfra deploy). Gives the answer away.

1. The space held by deleted files comes back when their holder closes them: restart the
   log shipper (and the service, in case it holds one too).
2. Rotation that works: the right path, copytruncate (the service and the shipper keep
   writing to and reading the same file, and nothing deleted stays open), a size limit,
   and a schedule that runs: cron enabled under runit, logrotate hourly so the size limit
   matters on a 40 MB disk.
3. Bring the live log down now (emptied in place: a copy would not fit), and turn the
   temporary verbose request logging off.

Idempotent: the restarts run only while a deleted file on /srv/data is held open, the forced
rotation only while the log is over its size limit.
"""

from pathlib import Path

from pyinfra import host
from pyinfra.facts.server import Command
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

FILES = Path(__file__).parent / "files"
HELD = "find /proc/[0-9]*/fd -lname '/srv/data/*(deleted)' 2>/dev/null | head -1"
LOG_OVER_LIMIT = "find /srv/data/log/uploads.log -size +4M 2>/dev/null"

if host.data.service == "files":
    held = (host.get_fact(Command, command=HELD) or "").strip()
    server.shell(
        name="Let go of the deleted log: restart the shipper and the service",
        commands=["sv restart /etc/service/shipper /etc/service/uploads"],
        _if=lambda: bool(held),
    )
    files.put(name="Rotation: the real log, by size too, truncated in place", src=str(FILES / "logrotate-uploads"), dest="/etc/logrotate.d/uploads", mode="644")
    files.put(name="Run logrotate hourly", src=str(FILES / "hourly-logrotate"), dest="/etc/cron.d/logrotate-hourly", mode="644")
    files.link(name="Run cron under runit", path="/etc/service/cron", target="/etc/sv/cron")
    big = (host.get_fact(Command, command=LOG_OVER_LIMIT) or "").strip()
    # The log is as large as the free space: a rotation would need room for a copy. Its
    # lines were verbose request dumps the shipper has already forwarded: empty it in place.
    server.shell(name="Empty the oversized upload log in place", commands=["truncate -s 0 /srv/data/log/uploads.log"], _if=lambda: bool(big))
    verbose = files.line(name="Upload service: verbose request logging off", path="/etc/sv/uploads/run", line=r"^export LOG_VERBOSE=1$", present=False)
    server.shell(name="Restart the service without verbose logging", commands=["sv restart /etc/service/uploads"], _if=any_changed(verbose))
