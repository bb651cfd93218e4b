"""Shortcut: make the page readable with chmod 666 (and fix the port) — served, but anyone can rewrite it.

A shortcut is a known WRONG fix, a pyinfra deploy written like solution.py. `labs validate`
applies each file in shortcuts/ to a freshly broken instance and requires `labs check` to
FAIL: a shortcut that passes means the checks accept a wrong fix. The docstring's first line
says what it fakes (it names the shortcut in validate's report and JUnit). Ship one per kind
of wrong fix a learner may try: a hand-started process, a copied page, a permission opened
to everyone, a tool shimmed in PATH.
"""

from pathlib import Path

from pyinfra import host
from pyinfra.operations import files, server

FILES = Path(__file__).parent.parent / "files"

if host.data.service == "web":
    files.put(name="Status site on port 80", src=str(FILES / "status.conf"), dest="/etc/nginx/sites-available/status", mode="644")
    files.file(name="Page readable (and writable) by everyone", path="/srv/status/index.html", mode="666")
    server.shell(name="Reload nginx", commands=["nginx -t && (nginx -s reload || nginx)"])
