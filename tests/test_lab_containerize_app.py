"""containerize-app end to end: two Dockerfiles other than the reference one pass every
objective — a numeric USER with no account and a healthcheck script copied from the workspace;
a home-directory user with a VOLUME for the notes and a shell-form healthcheck — and the check
leaves no built image or container behind. The shipped shortcuts (root, `HEALTHCHECK CMD true`,
canned answers, a bloated image, a build that needs the network) are proven to fail by `labs
validate`'s shortcuts phase, which the suite runs over every lab.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker

LAB = "containerize-app"

NUMERIC_USER = r"""
cat > /workspace/health.py <<'EOS'
import sys, urllib.request
try:
    with urllib.request.urlopen("http://127.0.0.1:8080/healthz", timeout=2) as answer:
        sys.exit(0 if answer.status == 200 else 1)
except Exception:
    sys.exit(1)
EOS
cat > /workspace/Dockerfile <<'EOS'
FROM labs/appbase:bookworm
RUN install -d -o 10001 -g 10001 -m 700 /var/lib/notes
COPY app.py health.py /app/
USER 10001:10001
HEALTHCHECK --interval=3s --timeout=2s --retries=2 CMD ["python3", "/app/health.py"]
ENTRYPOINT ["python3", "/app/app.py"]
EOS
"""

HOME_USER_VOLUME = r"""
cat > /workspace/Dockerfile <<'EOS'
FROM labs/appbase:bookworm
RUN useradd --create-home --uid 2000 notes && mkdir /var/lib/notes && chown notes: /var/lib/notes
WORKDIR /home/notes
COPY --chown=root:root app.py ./app.py
VOLUME /var/lib/notes
USER notes
HEALTHCHECK --interval=2s --start-period=3s \
  CMD python3 -c "import urllib.request; urllib.request.urlopen('http://localhost:8080/healthz', timeout=2)" || exit 1
CMD python3 -u app.py
EOS
"""


def _built_resources(engine, key: str) -> list:
    selector = {"label": ["io.labs.built=true", f"io.labs.instance={key}"]}
    return engine.images.list(all=True, filters=selector) + engine.containers.list(all=True, filters=selector)


def test_other_valid_dockerfiles_pass(engine, labs, lab_instance, instance_name):
    assert lab_instance(LAB).returncode == 0
    for name, build in (("numeric-user", NUMERIC_USER), ("home-user-volume", HOME_USER_VOLUME)):
        done = labs("shell", LAB, "workstation", "--instance", instance_name, "--", "sh", "-c", build)
        assert done.returncode == 0, done.stdout + done.stderr
        result, report = labs.json("check", LAB, "--instance", instance_name, timeout=400)
        assert result.returncode in (0, 1), result.stderr
        failing = {o["id"]: o.get("message") for o in report["objectives"] if not o["passed"]}
        assert failing == {}, name
        assert _built_resources(engine, f"{LAB}.{instance_name}") == [], f"{name}: the check left built resources behind"


def test_fresh_workspace_fails_with_a_clear_build_verdict(labs, lab_instance, instance_name):
    assert lab_instance(LAB).returncode == 0
    result, report = labs.json("check", LAB, "--instance", instance_name, timeout=400)
    assert result.returncode == 1
    first = report["objectives"][0]
    assert not first["passed"] and "/workspace/Dockerfile" in first["message"]
