"""Reference solution for permission-denied (pyinfra deploy). Gives the answer away.

The uploads folder and every file in it go to the upload service's current user and the
`media` group; the folder gets the setgid bit (new files take its group) and mode 2750 (the
publisher, in `media`, reads and lists, nobody else gets in); files are 0640; and the upload
service creates files with umask 027 (owner read-write, group read, others nothing).
Idempotent: the ownership fix runs only while something is off, the restart only when the
run script changed.
"""

from pathlib import Path

from pyinfra import host
from pyinfra.facts.server import Command
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

FILES = Path(__file__).parent / "files"
UPLOADS = "/srv/media/uploads"

# Prints nothing when the folder and everything in it is already uploads:media, 2750 / 0640.
OFF = (
    f"[ \"$(stat -c %U:%G:%a {UPLOADS})\" = uploads:media:2750 ] || echo folder; "
    f"find {UPLOADS} -mindepth 1 \\( ! -user uploads -o ! -group media -o ! -perm 640 \\) -print -quit"
)

if host.data.service == "media":
    off = (host.get_fact(Command, command=OFF) or "").strip()
    server.shell(
        name="Uploads belong to the upload service's user and the media group; setgid folder",
        commands=[f"chown -R uploads:media {UPLOADS}", f"chmod 2750 {UPLOADS}", f"find {UPLOADS} -mindepth 1 -type f -exec chmod 640 {{}} +"],
        _if=lambda: bool(off),
    )
    run = files.put(name="Upload service: umask 027 (group may read, others nothing)", src=str(FILES / "uploads-fixed.run"), dest="/etc/sv/uploads/run", mode="755")
    server.shell(name="Restart the upload service", commands=["sv restart /etc/service/uploads"], _if=any_changed(run))
