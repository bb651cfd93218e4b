"""Prepare the environment for the learner to build on: a pyinfra deploy that `labs start` and
`labs reset` run on FRESH containers (see the repair template's break.py for how deploys run).

A build lab's setup breaks nothing: it puts in place what the ticket promises (here the
release page in the learner's workspace) and leaves the building to the learner.
"""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files

PAGE = """<!doctype html>
<title>Release</title>
<h1>Release {release}</h1>
"""

if host.data.service == "web":
    files.directory(name="The learner's workspace", path="/workspace/site", mode="755")
    files.put(name="The release page", src=StringIO(PAGE.format(release=host.data.values["release"])), dest="/workspace/site/index.html", mode="644")
