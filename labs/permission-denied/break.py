"""Deploy release 2024.11.3 of the media host, with the three faults it shipped (pyinfra deploy).

* The provisioning script re-created the service users: `uploads` got a new uid, but the
  uploads folder (and the files in it) still belong to the old uid 1500.
* The folder was re-created without the setgid bit, so new files would take the upload
  service's own group, not the `media` group the publisher reads through.
* The regenerated run script sets `umask 077`: new files are readable by their owner only.

On top, the on-call engineer's hand-stored file is root's, mode 0600.
"""

import io
from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent / "files"
NONCE = host.data.values["nonce"]
EARLIER = [f"campaign-{NONCE[:6]}-{n}.jpg" for n in (1, 2, 3)]

ACCOUNTS = """\
set -e
groupadd --system media
# the old release's upload user had uid 1500; the new provisioning picks the next system uid
useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin uploads
useradd --system --user-group --groups media --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin publisher
install -d -o root -g root -m 755 /srv/media
install -d -o 1500 -g media -m 750 /srv/media/uploads
"""

if host.data.service == "media":
    server.shell(name="Service users and the uploads folder, as the new provisioning left them", commands=[ACCOUNTS])
    for number, name in enumerate(EARLIER, start=1):
        files.put(
            name=f"An upload from before the deploy ({name})",
            src=io.StringIO(f"JFIF campaign photo {number} {NONCE}\n"),
            dest=f"/srv/media/uploads/{name}",
            user="1500", group="media", mode="640",
        )
    files.put(
        name="The file stored by hand as root during the incident",
        src=io.StringIO(f"JFIF hotfix banner {NONCE}\n"),
        dest="/srv/media/uploads/hotfix-banner.jpg",
        user="root", group="root", mode="600",
    )
    for service in ("uploads", "publisher"):
        files.put(name=f"runit service: {service}", src=str(FILES / f"{service}.run"), dest=f"/etc/sv/{service}/run", mode="755")
        files.link(name=f"Enable {service}", path=f"/etc/service/{service}", target=f"/etc/sv/{service}")
    server.shell(
        name="Wait for both services to answer",
        commands=["for i in $(seq 100); do curl -fsS -o /dev/null http://127.0.0.1:8000/healthz && curl -fsS -o /dev/null http://127.0.0.1:8081/healthz && exit 0; sleep 0.2; done; exit 1"],
    )
