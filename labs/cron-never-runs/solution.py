"""Reference solution for cron-never-runs (pyinfra deploy). Gives the answer away.

The cron.d file is rewritten: owned by root, mode 0644 (cron ignores a file others may
write), every line terminated by a newline (cron drops an unterminated last line), a PATH
that includes the report tool's folder, and the site's settings exported to the job from
the settings file (cron does not read the root profile). Writing the file changes its
modification time, which is how cron notices. Idempotent: a second run finds the same file.
"""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files

FILES = Path(__file__).parent / "files"

if host.data.service == "reports":
    files.put(
        name="The report job: root's, 0644, terminated lines, its own PATH and settings",
        src=str(FILES / "warehouse-report"),
        dest="/etc/cron.d/warehouse-report",
        user="root", group="root", mode="644",
    )
