"""The leaky-secrets lab end to end on the real engine, through the real `labs` command.

`labs validate leaky-secrets` proves the rest (broken, solved, idempotent, reset, every
shortcut rejected). This file keeps what it does not: valid fixes other than the reference
one pass every objective (also while both cores are busy), and no verdict prints a password
or says where the HTTP leak is.
"""

from __future__ import annotations

import json

import pytest

from lab_driver import LabDriver

pytestmark = pytest.mark.docker

LAB = "leaky-secrets"

# The rotation every alternative shares: a random password set as a client-side SCRAM verifier
# (psycopg2's encrypt_password, what psql's \password does) from the app container, printed
# once for the settings file.
ROTATE = r"""set -e
python3 - <<'PY' > /root/new-password
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


def _leaked_password(engine, name: str) -> str:
    networks = engine.networks.list(filters={"label": [f"io.labs.instance={LAB}.{name}"]})
    assert len(networks) == 1
    return json.loads(networks[0].attrs["Labels"]["io.labs.values"])["db_password"]


def test_valid_fixes_other_than_the_reference_pass(labs, lab_instance, instance_name, engine, cpu_load):
    lab = LabDriver(labs, LAB, instance_name, lab_instance).start()
    leaked = _leaked_password(engine, instance_name)

    code, objectives, output = lab.check()
    assert code == 1, output
    assert leaked not in output, "a verdict printed the password itself"
    web = objectives["test_web_serves_no_secret"]["message"]
    assert web.startswith("a database password is still served over HTTP") and "/.env" not in web, web  # discovery: what, never where

    for number, (label, steps) in enumerate(ALTERNATIVES.items()):
        if number:
            lab.reset()
        with cpu_load(60):  # both cores busy while the checks run: verdicts, not timings, are tested
            lab.fix_passes(steps, label)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnknownMarkWarning")  # the lab's own marks (stage, discovery) belong to `labs check`
def test_settings_yield_passwords_from_urls_and_pgpass_lines_never_from_log_lines():
    """The checks try every password the app's changed files hold: DATABASE_URL lines and
    .pgpass lines count; a log line full of colons is no password (any line with four colons
    used to become one, which the checks would then try and search the site and logs for)."""
    import importlib.util
    import sys

    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location("leaky_objectives", REPO / "labs" / LAB / "test_objectives.py")
    objectives = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = objectives  # dataclasses look their module up
    try:
        spec.loader.exec_module(objectives)
        content = (
            b"db:5432:stockroom:stockroom:with:colon\n"
            b"*:*:*:stockroom:starred\n"
            b"DATABASE_URL=postgresql://stockroom:pa%40ss@db:5432/stockroom\n"
            b'2026-12-07 03:53:47,772 WARNING stockroom: database unavailable: could not translate host name "db" to address: Temporary failure\n'
            b"stockroom:!:20000:0:99999:7:::\n"
        )
        assert objectives._settings_passwords(content) == [("stockroom", "with:colon"), ("stockroom", "starred"), ("stockroom", "pa@ss")]
    finally:
        sys.modules.pop(spec.name, None)
