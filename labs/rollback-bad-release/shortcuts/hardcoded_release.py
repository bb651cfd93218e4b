"""A rollback script that always goes back to v41: right today, wrong for every later release."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files, server

if host.data.service == "web":
    files.put(name="Rollback to v41, always", src=StringIO("#!/bin/sh\nexec deploy-release 2026-11-15-v41\n"), dest="/workspace/rollback", mode="755")
    server.shell(name="Roll back once", commands=["/workspace/rollback"])
