"""Shortcut (a WRONG fix): mode 0640 on the settings file, and an ACL that lets another user read it.

The settings file gets root:stockroom 0640, which is what its mode bits should say, plus a POSIX
ACL entry `user:nobody:r--` (written as the system.posix_acl_access attribute, as setfacl does),
"for the monitoring agent". `stat` shows 0640; user nobody reads the password.
Class: too literal (readability judged from one file's mode bits).
"""

from pyinfra import host
from pyinfra.operations import files, server

SETTINGS = "/etc/stockroom/stockroom.env"
# user::rw- user:nobody(65534):r-- group::r-- mask::r-- other::---, in the kernel's binary form.
SET_ACL = (
    "python3 -c 'import os, struct; entries = [(1, 6, 0xFFFFFFFF), (2, 4, 65534), (4, 4, 0xFFFFFFFF), (0x10, 4, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)]; "
    f"os.setxattr(\"{SETTINGS}\", \"system.posix_acl_access\", struct.pack(\"<I\", 2) + b\"\".join(struct.pack(\"<HHI\", *e) for e in entries))'"
)

if host.data.service == "app":
    files.file(name="Settings: root:stockroom 0640", path=SETTINGS, user="root", group="stockroom", mode="640")
    server.shell(name="Let user nobody read them through an ACL", commands=[SET_ACL])
