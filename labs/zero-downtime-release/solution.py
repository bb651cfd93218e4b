"""The reference build: a blue/green release script (two ports, the spare warmed before nginx is
reloaded onto it, the boot records updated, the old release retired after a grace period).
Idempotent: it only writes the script; `labs check` runs it."""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files

FILES = Path(__file__).parent / "files"

if host.data.service == "web":
    files.put(name="The release script", src=str(FILES / "release"), dest="/workspace/release", mode="755")
