"""The files host the morning it filled up (pyinfra deploy).

* The log shipper follows the upload log *and its rotated copies* and never lets go of a
  file; the on-call engineer deleted the 20 MB `uploads.log.1`, so its space stays in use
  (held open by the shipper) while no file name shows it.
* The live log has grown until the disk is full: verbose request logging is on, and
  rotation never ran: /etc/logrotate.d/uploads names a folder that does not exist (and
  `missingok` keeps that quiet), and cron, which would run logrotate, is not running.
* Even with the right path, the config renames the log and creates a new one without telling
  the service, which keeps writing to the renamed file: the next rotation would delete a
  file still held open, the way this incident started.
"""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent / "files"
NONCE = host.data.values["nonce"]

ACCOUNTS = """\
set -e
useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin uploads
install -d -o uploads -g uploads -m 755 /srv/data/uploads /srv/data/log
"""

# Yesterday's uploads (kept), and yesterday's log, rotated once by hand.
HISTORY = f"""\
set -e
python3 - <<'PY'
import os, pwd, random
owner = pwd.getpwnam("uploads")
for n in (1, 2, 3):
    path = f"/srv/data/uploads/invoice-{NONCE[:6]}-{{n}}.pdf"
    with open(path, "w") as handle:
        handle.write((f"%PDF-1.4 invoice {{n}} for customer {NONCE}\\n") * 3000)
    os.chown(path, owner.pw_uid, owner.pw_gid)
path = "/srv/data/log/uploads.log.1"
rng = random.Random(7)
block = "".join(
    f"2024-11-20T{{rng.randrange(24):02d}}:{{rng.randrange(60):02d}}:{{rng.randrange(60):02d}} 10.0.3.{{rng.randrange(2, 250)}} "
    f"POST /upload?name=scan-{{rng.randrange(10**6):06d}}.pdf 201 96 agent='files-client/2.3' headers={{{{'Host': 'files', 'Content-Type': 'application/pdf'}}}}\\n"
    for _ in range(400)
)
with open(path, "w") as handle:
    while handle.tell() < 20 * 1024 * 1024:
        handle.write(block)
os.chown(path, owner.pw_uid, owner.pw_gid)
PY
"""

# Wait until the shipper follows the rotated log, delete it, then fill the rest of the disk
# with the live log, as the verbose service would have.
FILL = """\
set -e
for i in $(seq 150); do
    pid=$(pgrep -o -f '^python3 -u /opt/labs/shipper[.]py' || true)
    [ -n "$pid" ] && ls -l "/proc/$pid/fd" 2>/dev/null | grep -q 'uploads.log.1' && break
    sleep 0.2
done
rm -f /srv/data/log/uploads.log.1
python3 - <<'PY'
import os, random
rng = random.Random(11)
block = "".join(
    f"2024-11-21T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d} 10.0.3.{rng.randrange(2, 250)} "
    f"POST /upload?name=scan-{rng.randrange(10**6):06d}.pdf 201 96 agent='files-client/2.3' "
    f"headers={{'Host': 'files', 'Content-Type': 'application/pdf', 'X-Request-Id': '{rng.getrandbits(64):016x}'}}\\n"
    for _ in range(200)
)
with open("/srv/data/log/uploads.log", "a") as handle:
    while True:
        st = os.statvfs("/srv/data")
        if st.f_bavail * st.f_frsize < 160 * 1024:
            break
        try:
            handle.write(block)
            handle.flush()
        except OSError:
            break
PY
"""

if host.data.service == "files":
    server.shell(name="The upload service's user and its folders on the data disk", commands=[ACCOUNTS])
    server.shell(name="Yesterday's uploads, and yesterday's rotated log", commands=[HISTORY])
    files.put(name="Start hook: bring back the data disk's contents", src=str(FILES / "restore-data"), dest="/etc/labs/start.d/10-restore-data", mode="755")
    files.put(name="Stop hook: keep the data disk's contents", src=str(FILES / "save-data"), dest="/etc/labs/stop.d/10-save-data", mode="755")
    files.put(name="Log rotation for the upload log (the wrong folder, no reopen)", src=str(FILES / "logrotate-uploads.broken"), dest="/etc/logrotate.d/uploads", mode="644")
    for service in ("uploads", "shipper"):
        files.put(name=f"runit service: {service}", src=str(FILES / f"{service}.run"), dest=f"/etc/sv/{service}/run", mode="755")
        files.link(name=f"Enable {service}", path=f"/etc/service/{service}", target=f"/etc/sv/{service}")
    server.shell(
        name="Wait for the upload service",
        commands=["for i in $(seq 100); do curl -fsS -o /dev/null http://127.0.0.1:8000/healthz && exit 0; sleep 0.2; done; exit 1"],
    )
    server.shell(name="The on-call engineer deletes the rotated log; the live log fills the disk", commands=[FILL])
