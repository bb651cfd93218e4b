"""Runs as root: a working Dockerfile with a good healthcheck, but no USER, so the service
runs as uid 0 in the container."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files

DOCKERFILE = """FROM labs/appbase:bookworm
RUN mkdir -p /var/lib/notes
COPY app.py /opt/notes/app.py
HEALTHCHECK --interval=2s --timeout=2s --retries=3 \\
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
CMD ["python3", "-u", "/opt/notes/app.py"]
"""

if host.data.service == "workstation":
    files.put(name="A Dockerfile without USER", src=StringIO(DOCKERFILE), dest="/workspace/Dockerfile", mode="644")
