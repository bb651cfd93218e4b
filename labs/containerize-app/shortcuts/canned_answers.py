"""Canned answers: instead of the notes service, a static file server whose files answer
/healthz and /hello with fixed text, non-root and healthy, but never the real service."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files

DOCKERFILE = """FROM labs/appbase:bookworm
RUN useradd --system --no-create-home notes \\
 && mkdir -p /srv/static /var/lib/notes \\
 && echo ok > /srv/static/healthz \\
 && echo '{"hello": "world", "instance": "notes"}' > /srv/static/hello
USER notes
WORKDIR /srv/static
HEALTHCHECK --interval=2s --timeout=2s --retries=3 \\
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
CMD ["python3", "-m", "http.server", "8080"]
"""

if host.data.service == "workstation":
    files.put(name="A Dockerfile serving canned files", src=StringIO(DOCKERFILE), dest="/workspace/Dockerfile", mode="644")
