"""A healthcheck that always passes: HEALTHCHECK CMD true reports healthy whatever the service
does, so the scheduler never learns that it stopped working."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files

DOCKERFILE = """FROM labs/appbase:bookworm
RUN useradd --system --no-create-home notes && install -d -o notes -g notes /var/lib/notes
COPY app.py /opt/notes/app.py
USER notes
HEALTHCHECK --interval=2s --retries=2 CMD true
CMD ["python3", "-u", "/opt/notes/app.py"]
"""

if host.data.service == "workstation":
    files.put(name="A Dockerfile whose healthcheck cannot fail", src=StringIO(DOCKERFILE), dest="/workspace/Dockerfile", mode="644")
