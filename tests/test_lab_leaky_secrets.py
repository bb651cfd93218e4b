"""The leaky-secrets lab end to end on the real engine, through the real `labs` command.

Broken → the expected objectives fail → the reference solution → all pass → a
second solution run changes nothing → stop leaves nothing labelled. Then the
shortcuts a learner might try, which must keep failing: locking the settings
file down without rotating, hiding the HTTP leak while the log still prints the
password, and rotating before the log leak is closed.
"""

from __future__ import annotations

import json
import secrets

import pytest

pytestmark = pytest.mark.docker

LAB = "leaky-secrets"
SETTINGS = "/etc/stockroom/stockroom.env"
ALL = {
    "test_app_unmodified",
    "test_password_rotated",
    "test_secret_readable_only_by_app",
    "test_web_serves_no_secret",
    "test_logs_carry_no_secret",
    "test_app_works_through_nginx",
    "test_survives_restart",
}


def _check(labs, name: str) -> tuple[int, dict, str]:
    result, report = labs.json("check", LAB, "--instance", name)
    return result.returncode, {o["id"]: o for o in report["objectives"]}, result.stdout + result.stderr


def _failing(objectives: dict) -> set[str]:
    return {name for name, o in objectives.items() if not o["passed"]}


def _container(engine, name: str, service: str):
    found = engine.containers.list(filters={"label": [f"io.labs.instance={LAB}.{name}", f"io.labs.service={service}"]})
    assert len(found) == 1, f"expected one {service} container for {LAB}.{name}, found {len(found)}"
    return found[0]


def _sh(container, script: str) -> str:
    code, out = container.exec_run(["sh", "-c", script])
    text = out.decode("utf-8", "replace")
    assert code == 0, f"`{script}` in {container.name} exited {code}: {text}"
    return text


def _leaked_password(engine, name: str) -> str:
    networks = engine.networks.list(filters={"label": [f"io.labs.instance={LAB}.{name}"]})
    assert len(networks) == 1
    return json.loads(networks[0].attrs["Labels"]["io.labs.values"])["db_password"]


def _configured_password(app) -> str:
    url = _sh(app, f"sed -n 's/^DATABASE_URL=//p' {SETTINGS}").strip()
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


def test_broken_then_solved_idempotent_and_cleaned_up(labs, lab_instance, instance_name, engine):
    started = lab_instance(LAB)
    assert started.returncode == 0, started.stdout + started.stderr
    leaked = _leaked_password(engine, instance_name)

    code, objectives, output = _check(labs, instance_name)
    assert code == 1, output
    assert set(objectives) == ALL
    assert _failing(objectives) == ALL - {"test_app_unmodified", "test_app_works_through_nginx"}, output
    assert "still accepts the leaked password" in objectives["test_password_rotated"]["message"]
    assert "mode 0644" in objectives["test_secret_readable_only_by_app"]["message"]
    web = objectives["test_web_serves_no_secret"]["message"]
    assert "GET /.env answered HTTP 200" in web and "/stockroom.env.bak" in web
    logs = objectives["test_logs_carry_no_secret"]["message"]
    assert "printed the leaked password" in logs and "PostgreSQL's log" in logs
    assert leaked not in output, "a verdict printed the password itself"

    solved, first = labs.json("solve", LAB, "--instance", instance_name)
    assert solved.returncode == 0, solved.stdout + solved.stderr
    assert first["changed"] > 0

    code, objectives, output = _check(labs, instance_name)
    assert code == 0, output
    assert not _failing(objectives), output
    new = _configured_password(_container(engine, instance_name, "app"))
    assert new != leaked and len(new) >= 16
    assert leaked not in output and new not in output

    again, second = labs.json("solve", LAB, "--instance", instance_name)
    assert again.returncode == 0, again.stdout + again.stderr
    assert second["changed"] == 0, f"the reference solution is not idempotent: {second}"

    stopped = labs("stop", LAB, "--instance", instance_name)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    selector = {"label": [f"io.labs.instance={LAB}.{instance_name}"]}
    assert not engine.containers.list(all=True, filters=selector)
    assert not engine.networks.list(filters=selector)
    assert not engine.volumes.list(filters=selector)


def test_shortcuts_keep_failing(labs, lab_instance, instance_name, engine):
    started = lab_instance(LAB)
    assert started.returncode == 0, started.stdout + started.stderr
    app = _container(engine, instance_name, "app")
    web = _container(engine, instance_name, "web")
    db = _container(engine, instance_name, "db")

    # Shortcut 1: lock the settings file down, keep the leaked password.
    _sh(app, f"chown stockroom:stockroom {SETTINGS} && chmod 600 {SETTINGS}")
    # Shortcut 2: hide the HTTP leak, leave the app printing its database URL.
    _sh(web, "rm -f /srv/stockroom/.env /srv/stockroom/stockroom.env.bak")
    code, objectives, output = _check(labs, instance_name)
    assert code == 1, output
    assert objectives["test_secret_readable_only_by_app"]["passed"], output
    assert objectives["test_web_serves_no_secret"]["passed"], output
    assert not objectives["test_password_rotated"]["passed"]
    assert "still accepts the leaked password" in objectives["test_password_rotated"]["message"]
    assert not objectives["test_logs_carry_no_secret"]["passed"]
    assert "printed the leaked password" in objectives["test_logs_carry_no_secret"]["message"]

    # Shortcut 3: rotate first (a plaintext ALTER ROLE, with DDL logging on, while the app
    # still logs at debug), then close the log leak. The new password has leaked already.
    new = secrets.token_urlsafe(24)
    _sh(db, f"runuser -u postgres -- psql -XAtq -c \"ALTER ROLE stockroom PASSWORD '{new}'\"")
    _sh(app, f"sed -i 's#^DATABASE_URL=.*#DATABASE_URL=postgresql://stockroom:{new}@db:5432/stockroom#' {SETTINGS} && sv restart stockroom")
    _sh(app, "for i in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:8000/api/items && break; sleep 0.1; done")
    _sh(app, f"sed -i 's/^LOG_LEVEL=.*/LOG_LEVEL=info/' {SETTINGS} && sv restart stockroom")
    code, objectives, output = _check(labs, instance_name)
    assert code == 1, output
    assert _failing(objectives) == {"test_logs_carry_no_secret"}, output
    logs = objectives["test_logs_carry_no_secret"]["message"]
    assert "container log already holds a password that still logs in" in logs
    assert "PostgreSQL's log" in logs and "ALTER ROLE stockroom PASSWORD '***'" in logs
    assert new not in output
