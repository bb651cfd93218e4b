"""Reference solution for runaway-process (pyinfra deploy). Gives the answer away.

The importer is retired for real, starter by starter: the @reboot watchdog line goes from
cron (so no boot starts it again), the running watchdog loop is stopped, the runit service
is stopped and disabled (`sv stop` first: removing the link alone leaves the process
running), and any copy still running is ended. The shop itself is untouched.
Idempotent: each step runs only while what it removes is still there.
"""

from pathlib import Path

from pyinfra import host
from pyinfra.facts.server import Command
from pyinfra.operations import files, server

FILES = Path(__file__).parent / "files"

if host.data.service == "web":
    files.put(name="Cron: no more watchdog at boot", src=str(FILES / "shop-maintenance.fixed"), dest="/etc/cron.d/shop-maintenance", mode="644")
    watchdog = (host.get_fact(Command, command="pgrep -f '[f]eed-sync-watchdog' || true") or "").strip()
    server.shell(name="Stop the running watchdog loop", commands=["pkill -f '[f]eed-sync-watchdog'"], _if=lambda: bool(watchdog))
    enabled = (host.get_fact(Command, command="test -e /etc/service/feed-sync && echo yes || true") or "").strip()
    server.shell(
        name="Stop and disable the importer's runit service",
        commands=["sv -w 20 force-stop /etc/service/feed-sync || true", "rm /etc/service/feed-sync"],
        _if=lambda: bool(enabled),
    )
    files.file(name="The watchdog script is retired too", path="/usr/local/sbin/feed-sync-watchdog", present=False)
    running = (host.get_fact(Command, command="pgrep -f '[f]eed-sync[.]py' || true") or "").strip()
    server.shell(name="End any copy still running", commands=["pkill -f '[f]eed-sync[.]py'; sleep 1; pkill -9 -f '[f]eed-sync[.]py' || true"], _if=lambda: bool(running))
