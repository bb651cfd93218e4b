"""shipper: a log shipper that follows every file matching SHIP_GLOB and forwards new lines.

It opens each file it finds and keeps following it, rotated copies included, so that no
line written just before a rotation is lost. (Forwarding is counted, not sent: the lab has
no log platform.)
"""

import glob
import os
import sys
import time

PATTERN = os.environ.get("SHIP_GLOB", "/var/log/*.log*")
followed = {}
shipped = 0

print(f"shipper: following {PATTERN}", flush=True)
while True:
    for path in sorted(glob.glob(PATTERN)):
        try:
            inode = os.stat(path).st_ino
        except OSError:
            continue
        if inode not in followed:
            try:
                followed[inode] = open(path, "rb")
                print(f"shipper: following {path}", flush=True)
            except OSError as err:
                print(f"shipper: cannot open {path}: {err}", file=sys.stderr, flush=True)
    for handle in followed.values():
        try:
            if os.fstat(handle.fileno()).st_size < handle.tell():
                handle.seek(0)  # truncated in place (copytruncate): start over
        except OSError:
            pass
        while True:
            chunk = handle.read(1 << 20)
            if not chunk:
                break
            shipped += chunk.count(b"\n")
    time.sleep(2)
