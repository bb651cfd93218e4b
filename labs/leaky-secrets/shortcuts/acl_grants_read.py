"""Shortcut (a WRONG fix): the whole fix, then an ACL that lets another user read the settings.

The reference solution is applied (leaks closed, password rotated; the settings file is
root:stockroom 0640), then a POSIX ACL entry `user:nobody:r--` is added to the settings file
(written as the system.posix_acl_access attribute, as setfacl does), "for the monitoring agent".
`stat` still shows 0640; user nobody reads the new password.
Class: too literal (readability judged from one file's mode bits).
"""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import server

SOLUTION = Path(__file__).parent.parent / "solution.py"
exec(compile(SOLUTION.read_text(encoding="utf-8"), str(SOLUTION), "exec"), {"__file__": str(SOLUTION), "__name__": "__deploy__"})

SETTINGS = "/etc/stockroom/stockroom.env"
# user::rw- user:nobody(65534):r-- group::r-- mask::r-- other::---, in the kernel's binary form.
SET_ACL = (
    "python3 -c 'import os, struct; entries = [(1, 6, 0xFFFFFFFF), (2, 4, 65534), (4, 4, 0xFFFFFFFF), (0x10, 4, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)]; "
    f"os.setxattr(\"{SETTINGS}\", \"system.posix_acl_access\", struct.pack(\"<I\", 2) + b\"\".join(struct.pack(\"<HHI\", *e) for e in entries))'"
)

# Every service collects it too (pyinfra keys operations by position): after the solution's.
server.shell(name="Let user nobody read the settings through an ACL", commands=[SET_ACL], _if=lambda: host.data.service == "app")
