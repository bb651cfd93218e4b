"""The reference build: a Dockerfile FROM the lab's base that creates a system user, gives it
only /var/lib/notes, copies the app in as root-owned read-only code, runs as that user, and
checks /healthz with python3 every 2 s."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files

DOCKERFILE = """FROM labs/appbase:bookworm
RUN useradd --system --no-create-home --shell /usr/sbin/nologin notes \\
 && install -d -o notes -g notes -m 750 /var/lib/notes
COPY app.py /opt/notes/app.py
ENV PORT=8080 DATA_DIR=/var/lib/notes PYTHONDONTWRITEBYTECODE=1
EXPOSE 8080
USER notes
HEALTHCHECK --interval=2s --timeout=2s --start-period=5s --retries=3 \\
  CMD ["python3", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
CMD ["python3", "-u", "/opt/notes/app.py"]
"""

if host.data.service == "workstation":
    files.put(name="The Dockerfile", src=StringIO(DOCKERFILE), dest="/workspace/Dockerfile", mode="644")
