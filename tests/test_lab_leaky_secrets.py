"""The leaky-secrets lab end to end on the real engine, through the real `labs` command.

Broken → the expected objectives fail → the reference solution → all pass, also
while both cores are busy → a second solution run changes nothing → stop leaves
nothing labelled. Then every known wrong fix in labs/leaky-secrets/shortcuts/
(one or more of each class of shortcut that applies here) must fail on the
objective it fakes, and valid fixes other than the reference one must pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

LAB = "leaky-secrets"
SHORTCUTS = Path(__file__).resolve().parent.parent / "labs" / LAB / "shortcuts"
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

# shortcut -> (the objective it fakes and must fail, words its verdict must hold)
CAUGHT = {
    "chmod_without_rotation": ("test_password_rotated", "still accepts the leaked password"),
    "trivial_variant": ("test_password_rotated", "variant of the leaked one"),
    "old_password_other_client": ("test_password_rotated", "from a client on the lab network"),
    "truncated_audit_log": ("test_logs_carry_no_secret", "audit trail"),
    "raw_uri_deny": ("test_web_serves_no_secret", "served over HTTP"),
    "archive_copy_served": ("test_web_serves_no_secret", "served over HTTP"),
    "backup_archive_readable": ("test_secret_readable_only_by_app", "/var/backups/stockroom.env.gz"),
    "acl_grants_read": ("test_secret_readable_only_by_app", "ACL"),
    "python_shim": ("test_app_unmodified", "/usr/local/bin/python3"),
    "hand_started_nginx": ("test_survives_restart", "served over HTTP"),
}

# The rotation every alternative shares: a random password set as a client-side SCRAM verifier
# (psycopg2's encrypt_password, what psql's \password does) from the app container, printed
# once for the settings file.
ROTATE = r"""python3 - <<'PY' > /root/new-password
import secrets, sys
sys.path.insert(0, "/srv/stockroom")
import app
from psycopg2.extensions import encrypt_password
conn = app.connect(app.load_config("/etc/stockroom/stockroom.env")["DATABASE_URL"])
new = secrets.token_urlsafe(30)
conn.cursor().execute("ALTER ROLE CURRENT_USER PASSWORD %s", (encrypt_password(new, "stockroom", conn),))
print(new)
PY
chmod 600 /root/new-password"""

# Valid fixes other than solution.py, per service, in order: each must pass every objective.
ALTERNATIVES = {
    # The settings move to a private folder and the app is pointed at them the way it documents
    # (STOCKROOM_CONFIG, in its runit service); the release directory leaves the web tier
    # entirely and nginx passes everything to the app.
    "private folder via STOCKROOM_CONFIG, no document root": [
        ("web", "rm -rf /srv/stockroom && sed -i -e '/^ *root /d' -e 's/try_files \\$uri @app;/proxy_pass $stockroom_app;/' /etc/nginx/sites-available/stockroom && nginx -t -q && nginx -s reload"),
        ("app", "install -d -m 750 -o root -g stockroom /etc/stockroom/private && mv /etc/stockroom/stockroom.env /etc/stockroom/private/stockroom.env"
                " && chmod 644 /etc/stockroom/private/stockroom.env && sed -i 's/^LOG_LEVEL=.*/LOG_LEVEL=warning/' /etc/stockroom/private/stockroom.env"
                " && sed -i 's|^exec chpst|export STOCKROOM_CONFIG=/etc/stockroom/private/stockroom.env\\nexec chpst|' /etc/sv/stockroom/run && sv restart stockroom"),
        ("app", ROTATE.replace('"/etc/stockroom/stockroom.env"', '"/etc/stockroom/private/stockroom.env"')),
        ("app", "sed -i \"s|^DATABASE_URL=.*|DATABASE_URL=postgresql://stockroom:$(cat /root/new-password)@db:5432/stockroom|\" /etc/stockroom/private/stockroom.env && rm /root/new-password && sv restart stockroom"),
    ],
    # The settings file stays where the app looks, as a symlink into a private folder; nginx
    # denies every dotfile and backup at the server level and the copies are moved off the web
    # root (they hold a password that is dead once rotated).
    "symlink into a private folder, nginx deny rules": [
        ("web", "mkdir -p /root/quarantine && mv /srv/stockroom/.env /srv/stockroom/stockroom.env.bak /root/quarantine/"
                " && sed -i 's|^    location / {|    location ~ /\\\\. { deny all; }\\n    location ~ \\\\.(bak\\|env)$ { deny all; }\\n    location / {|' /etc/nginx/sites-available/stockroom"
                " && nginx -t -q && nginx -s reload"),
        ("app", "install -d -m 700 -o stockroom -g stockroom /srv/stockroom/secrets && mv /etc/stockroom/stockroom.env /srv/stockroom/secrets/stockroom.env"
                " && chown stockroom:stockroom /srv/stockroom/secrets/stockroom.env && chmod 600 /srv/stockroom/secrets/stockroom.env"
                " && ln -s /srv/stockroom/secrets/stockroom.env /etc/stockroom/stockroom.env && sed -i 's/^LOG_LEVEL=.*/LOG_LEVEL=info/' /srv/stockroom/secrets/stockroom.env && sv restart stockroom"),
        ("app", ROTATE),
        ("app", "sed -i \"s|^DATABASE_URL=.*|DATABASE_URL=postgresql://stockroom:$(cat /root/new-password)@db:5432/stockroom|\" /srv/stockroom/secrets/stockroom.env && rm /root/new-password && sv restart stockroom"),
    ],
}


def _check(labs, name: str) -> tuple[int, dict, str]:
    result, report = labs.json("check", LAB, "--instance", name, timeout=900)
    return result.returncode, {o["id"]: o for o in report["objectives"]}, result.stdout + result.stderr


def _failing(objectives: dict) -> set[str]:
    return {name for name, o in objectives.items() if not o["passed"]}


def _container(engine, name: str, service: str):
    found = engine.containers.list(filters={"label": [f"io.labs.instance={LAB}.{name}", f"io.labs.service={service}"]})
    assert len(found) == 1, f"expected one {service} container for {LAB}.{name}, found {len(found)}"
    return found[0]


def _leaked_password(engine, name: str) -> str:
    networks = engine.networks.list(filters={"label": [f"io.labs.instance={LAB}.{name}"]})
    assert len(networks) == 1
    return json.loads(networks[0].attrs["Labels"]["io.labs.values"])["db_password"]


def _configured_password(app) -> str:
    code, out = app.exec_run(["sh", "-c", f"sed -n 's/^DATABASE_URL=//p' {SETTINGS}"])
    assert code == 0, out
    return out.decode().strip().split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


def test_broken_then_solved_under_load_idempotent_and_cleaned_up(labs, lab_instance, instance_name, engine, cpu_load):
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
    assert web.startswith("a database password is still served over HTTP") and "/.env" not in web, web  # discovery: what, never where
    logs = objectives["test_logs_carry_no_secret"]["message"]
    assert "printed the leaked password" in logs and "PostgreSQL's log" in logs
    assert leaked not in output, "a verdict printed the password itself"

    solved, first = labs.json("solve", LAB, "--instance", instance_name, timeout=900)
    assert solved.returncode == 0, solved.stdout + solved.stderr
    assert first["changed"] > 0

    with cpu_load(60):  # both cores busy while the checks run: verdicts, not timings, are tested
        code, objectives, output = _check(labs, instance_name)
    assert code == 0, output
    assert not _failing(objectives), output
    new = _configured_password(_container(engine, instance_name, "app"))
    assert new != leaked and len(new) >= 16
    assert leaked not in output and new not in output

    again, second = labs.json("solve", LAB, "--instance", instance_name, timeout=900)
    assert again.returncode == 0, again.stdout + again.stderr
    assert second["changed"] == 0, f"the reference solution is not idempotent: {second}"

    stopped = labs("stop", LAB, "--instance", instance_name)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    selector = {"label": [f"io.labs.instance={LAB}.{instance_name}"]}
    assert not engine.containers.list(all=True, filters=selector)
    assert not engine.networks.list(filters=selector)
    assert not engine.volumes.list(filters=selector)


def test_every_shortcut_fails_on_what_it_fakes(labs, lab_instance, instance_name, engine):
    assert {p.stem for p in SHORTCUTS.glob("*.py")} == set(CAUGHT)
    started = lab_instance(LAB)
    assert started.returncode == 0, started.stdout + started.stderr
    leaked = _leaked_password(engine, instance_name)
    verdicts = labs.shortcut_verdicts(LAB, instance_name, [SHORTCUTS / f"{name}.py" for name in CAUGHT])
    assert all(code == 1 for code, _, _ in verdicts.values()), {s: out for s, (code, _, out) in verdicts.items() if code != 1}
    assert not [s for s, (_, _, out) in verdicts.items() if leaked in out], "a verdict printed the password itself"
    seen = {s: verdicts[s][1][objective] for s, (objective, _) in CAUGHT.items()}
    wrong = {s: o["message"] for s, o in seen.items() if o["passed"] or CAUGHT[s][1] not in o["message"]}
    assert not wrong, wrong


def test_valid_fixes_other_than_the_reference_pass(labs, lab_instance, instance_name, engine):
    started = lab_instance(LAB)
    assert started.returncode == 0, started.stdout + started.stderr
    for n, (fix, steps) in enumerate(ALTERNATIVES.items()):
        if n:
            reset = labs("reset", LAB, "--instance", instance_name, timeout=900)
            assert reset.returncode == 0, reset.stdout + reset.stderr
        for service, script in steps:
            container = _container(engine, instance_name, service)
            code, out = container.exec_run(["sh", "-c", script])
            assert code == 0, f"{fix}: `{script}` in {service} exited {code}: {out.decode('utf-8', 'replace')}"
        code, objectives, output = _check(labs, instance_name)
        assert code == 0, (fix, {oid: o["message"] for oid, o in objectives.items() if not o["passed"]})
