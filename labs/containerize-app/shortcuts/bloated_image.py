"""A bloated image: to be safe it hands the whole Python installation to the app user
(chown -R), which copies every file of it into a new layer and blows the size budget."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files

DOCKERFILE = """FROM labs/appbase:bookworm
RUN useradd --system --no-create-home notes \\
 && install -d -o notes -g notes /var/lib/notes \\
 && chown -R notes:notes /usr/lib/python3.11
COPY app.py /opt/notes/app.py
USER notes
HEALTHCHECK --interval=2s --timeout=2s --retries=3 \\
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
CMD ["python3", "-u", "/opt/notes/app.py"]
"""

if host.data.service == "workstation":
    files.put(name="A Dockerfile that rewrites the interpreter", src=StringIO(DOCKERFILE), dest="/workspace/Dockerfile", mode="644")
