"""Only builds with a network: it installs curl with apt-get for the healthcheck, which works
on a laptop but not on the platform, whose builds are offline."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files

DOCKERFILE = """FROM labs/appbase:bookworm
RUN apt-get update && apt-get install -y --no-install-recommends curl \\
 && useradd --system --no-create-home notes && install -d -o notes -g notes /var/lib/notes
COPY app.py /opt/notes/app.py
USER notes
HEALTHCHECK --interval=2s --timeout=2s --retries=3 CMD curl -fsS http://127.0.0.1:8080/healthz
CMD ["python3", "-u", "/opt/notes/app.py"]
"""

if host.data.service == "workstation":
    files.put(name="A Dockerfile that downloads curl", src=StringIO(DOCKERFILE), dest="/workspace/Dockerfile", mode="644")
