"""Objectives for leaky-secrets: every leak of the database password closed, the password rotated, the app still working.

Each test is one objective the learner reads in `labs check`. Failure messages
say what the probe saw and where to look, never the command that fixes it, and
never print a password: lines that hold one are shown with it masked.

Which password is which: the *leaked* one is this instance's
``values.db_password``; the *configured* one is whatever the app's settings
file holds now, read the way the app reads it. A password is *live* while
PostgreSQL accepts it. Files and logs are judged on live passwords (a dead one
is harmless); responses and the log lines written after a restart on both.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import quote

from orchestrator.engine.client import exec_in
from orchestrator.paths import images_dir

WEB_PORT = 80  # nginx's container port, published on 127.0.0.1
APP_USER = "stockroom"
ROLE = "stockroom"  # the role the leaked password belongs to
SETTINGS = "/etc/stockroom/stockroom.env"
APP_CODE = "/srv/stockroom/app.py"
ALLOWED_OWNERS = {"root", APP_USER}  # who may own, or group-own, a file holding the password
KNOWN_LEAKS = ["/.env", "/stockroom.env.bak"]  # what the researcher and the scanner fetched
# Where copies of a password would sit in a container (not /proc, /sys, /dev, /usr).
SCAN_ROOTS = "/etc /srv /opt /home /root /tmp /var /run /usr/local /mnt /media"
MIN_LENGTH = 16
PG_LOGS = "/var/log/postgresql"

# Runs in the app container (python3 and psycopg2 are there). The password to
# try comes in the environment, never on a command line another user could see.
#   try       log in as LABS_ROLE with LABS_PASSWORD
#   settings  parse the app's settings file with the app's own loader (no login)
#   login     the same, then log in exactly as the app does (run as the app's user)
PROBE = r"""
import json, os, sys
sys.dont_write_bytecode = True
out = {"ok": False}
stage = "read"
try:
    import psycopg2
    from psycopg2.extensions import parse_dsn
    if sys.argv[1] == "try":
        stage = "connect"
        conn = psycopg2.connect(host="db", port=5432, dbname="stockroom", user=os.environ["LABS_ROLE"],
                                password=os.environ["LABS_PASSWORD"], connect_timeout=3)
    else:
        sys.path.insert(0, "/srv/stockroom")
        import app
        url = app.load_config().get("DATABASE_URL")
        if not url:
            raise KeyError("no DATABASE_URL in " + app.CONFIG_PATH)
        out["password"] = parse_dsn(url).get("password")
        if sys.argv[1] == "settings":
            out["ok"] = True
            print(json.dumps(out))
            sys.exit(0)
        stage = "connect"
        conn = app.connect(url)
        out["password"] = conn.info.password
        out["user"] = conn.info.user
    with conn.cursor() as cur:
        cur.execute("SELECT current_user")
        out["user"] = cur.fetchone()[0]
    conn.close()
    out["ok"] = True
except Exception as err:
    text = " ".join(str(err).split()) or type(err).__name__
    out.update(stage=stage, error=(type(err).__name__ + ": " + text) if stage == "read" else text)
print(json.dumps(out))
"""

REJECTED = ("password authentication failed", "is not permitted to log in", "no pg_hba.conf entry", "pg_hba.conf rejects")
UNREACHABLE = ("Connection refused", "could not translate host name", "timeout expired", "No route to host", "starting up", "shutting down", "server closed the connection", "could not connect")


# --- probes -----------------------------------------------------------------------------


def _probe(lab, mode: str, *, user: str | None = None, environment: dict | None = None) -> dict:
    result = exec_in(lab.container("app"), ["python3", "-c", PROBE, mode], deadline=20, user=user, environment=environment)
    lines = result.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        said = " ".join(result.stderr.decode("utf-8", "replace").split())[-160:] or f"exit {result.exit_code}"
        return {"ok": False, "stage": "probe", "error": f"the probe could not run in the app container ({said})"}


def _try_password(lab, password: str, role: str = ROLE) -> tuple[str, str]:
    """('accepted' | 'rejected' | 'unreachable' | 'unknown', what PostgreSQL said)."""
    out = _probe(lab, "try", environment={"LABS_ROLE": role, "LABS_PASSWORD": password})
    if out.get("ok"):
        return "accepted", ""
    error = out.get("error", "")
    if any(marker in error for marker in REJECTED):
        return "rejected", error
    if any(marker in error for marker in UNREACHABLE):
        return "unreachable", error
    return "unknown", error


def _variants(password: str) -> list[str]:
    """The password as it could appear in text: raw, and percent-encoded inside a URL."""
    forms = [password, quote(password, safe=""), quote(password)]
    return [f for f in dict.fromkeys(forms) if f]


@dataclass
class Passwords:
    leaked: str
    configured: str | None  # what the app's settings hold now (None: unreadable or no URL)
    leaked_live: bool  # PostgreSQL still accepts the leaked one (or could not be asked)

    @property
    def live(self) -> list[str]:
        found = [self.configured] if self.configured else []
        if self.leaked_live:
            found.append(self.leaked)
        return list(dict.fromkeys(found))

    @property
    def known(self) -> list[str]:
        return list(dict.fromkeys([self.leaked] + ([self.configured] if self.configured else [])))

    def label(self, password: str) -> str:
        return "the leaked password" if password == self.leaked else "the current password"

    def mask(self, text: str) -> str:
        for password in sorted(self.known, key=len, reverse=True):
            for form in _variants(password):
                text = text.replace(form, "***")
        return text

    def found_in(self, text: str, candidates: list[str]) -> list[str]:
        return [p for p in candidates if any(form in text for form in _variants(p))]


def _passwords(lab) -> Passwords:
    leaked = lab.values["db_password"]
    # The URL in the settings (read as root: even a file the app cannot read counts); a URL
    # without a password means libpq found one elsewhere (a .pgpass): ask a real login.
    configured = _probe(lab, "settings").get("password") or _probe(lab, "login", user=APP_USER).get("password") or None
    state, _ = _try_password(lab, leaked)
    return Passwords(leaked, configured, state != "rejected")


def _grep(container, passwords: list[str], grep_args: str, deadline: float = 30) -> tuple[int, str]:
    """grep -F for any of ``passwords`` inside a container; the patterns go through a private file."""
    env, patterns = {}, [form for p in passwords for form in _variants(p)]
    for i, form in enumerate(patterns):
        env[f"LABS_S{i}"] = form
    script = (
        "umask 077; f=$(mktemp /dev/shm/labs-probe.XXXXXX) || exit 3; i=0; "
        'while :; do eval "v=\\${LABS_S$i-}"; [ -n "$v" ] || break; printf "%s\\n" "$v" >>"$f"; i=$((i+1)); done; '
        f'grep {grep_args}; rc=$?; rm -f "$f"; exit $rc'
    )
    if not patterns:
        return 1, ""
    result = exec_in(container, ["sh", "-c", script], deadline=deadline, environment=env)
    return result.exit_code, result.stdout.decode("utf-8", "replace")


def _files_holding(container, passwords: list[str], roots: str = SCAN_ROOTS) -> list[str]:
    _, out = _grep(container, passwords, f'-rlsF -f "$f" {roots}')
    return [line for line in out.splitlines() if line.strip()]


def _stat(host, path: str) -> tuple[int, str, str] | None:
    result = host.run(f"stat -c '%a %U %G' -- '{path}'")
    if result.rc != 0:
        return None
    mode, owner, group = result.stdout.split()
    return int(mode, 8), owner, group


def _exposure(mode: int, owner: str, group: str) -> str | None:
    """Why a file holding the password is readable beyond the app's user, or None."""
    if mode & 0o004:
        return "every local user can read it"
    if owner not in ALLOWED_OWNERS:
        return f"it belongs to user {owner}"
    if mode & 0o040 and group not in ALLOWED_OWNERS:
        return f"group {group} can read it"
    return None


def _wait_for_app(lab, timeout: float = 10) -> None:
    """Give a restarted stack a moment: until the app answers through nginx, or the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.http("web", WEB_PORT, "/healthz", timeout=2).status == 200:
            return
        time.sleep(0.2)


def _wait_for_db(lab, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.host("db").run("pg_isready -q -h 127.0.0.1").rc == 0:
            return
        time.sleep(0.2)


# --- the judgements, shared by the objectives and the restart check -------------------------


def _rotation_problem(lab) -> str | None:
    leaked = lab.values["db_password"]
    state, said = _try_password(lab, leaked)
    if state == "unreachable":
        return f"could not reach PostgreSQL at db:5432 from the app container ({said[:160]}) — the database must be up to prove the rotation"
    if state == "accepted":
        return f"PostgreSQL still accepts the leaked password for role {ROLE} (a login from the app container to db:5432 succeeded): whoever read it can still log in"
    if state == "unknown":
        return f"could not tell whether the leaked password still works: PostgreSQL answered {said[:160]!r}"
    login = _probe(lab, "login", user=APP_USER)
    if not login.get("ok"):
        if login.get("stage") == "read":
            return f"the app's user {APP_USER} cannot get a database URL from {SETTINGS} ({login.get('error', '')[:160]}): the app reads it there at every start"
        return f"the database URL in {SETTINGS} does not log in (as the app's user, the way the app connects): {login.get('error', '')[:200]} — the app must find the new password in its settings"
    password = login.get("password") or ""
    if not password:
        return f"the app logs in as {login.get('user')} without any password: PostgreSQL must require the new one"
    if leaked in password:
        return "the app's new password contains the leaked one: generate a new random password"
    if len(password) < MIN_LENGTH:
        return f"the app's new password is only {len(password)} characters long: use a random one of {MIN_LENGTH} or more"
    return None


def _file_problems(lab, pw: Passwords) -> list[str]:
    app = lab.host("app")
    problems = []
    st = _stat(app, SETTINGS)
    if st is None:
        return [f"{SETTINGS} is gone from the app container: the app reads its settings there (labs reset starts over)"]
    mode, owner, group = st
    holding = _files_holding(lab.container("app"), pw.live)
    if (pw.configured or SETTINGS in holding) and (why := _exposure(mode, owner, group)):
        problems.append(f"{SETTINGS} holds the database password and {why} (mode {mode:04o}, owner {owner}:{group})")
    if app.run(f"runuser -u {APP_USER} -- test -r {SETTINGS}").rc != 0:
        problems.append(f"the app's own user {APP_USER} cannot read {SETTINGS} (mode {mode:04o}, owner {owner}:{group}): the app fails at its next start")
    for path in holding:
        if path == SETTINGS:
            continue
        st = _stat(app, path)
        if st and (why := _exposure(*st)):
            problems.append(f"{path} in the app container holds a database password that still works, and {why} (mode {st[0]:04o}, owner {st[1]}:{st[2]})")
    return problems


def _web_problems(lab, pw: Passwords) -> list[str]:
    """Fetch every known leak, and every file on the web tier that holds a password under a document root."""
    paths = list(KNOWN_LEAKS)
    config = lab.host("web").run("nginx -T 2>/dev/null").stdout
    # folder on disk -> URL prefix: every `root`, and every `alias` of a prefix location
    served = {r.strip().strip("'\"").rstrip("/"): "" for r in re.findall(r"^\s*root\s+([^;]+);", config, re.MULTILINE)}
    for prefix, folder in re.findall(r"location\s+(?:\^~\s+|=\s+)?(/[^\s{]*)\s*\{[^{}]*?\balias\s+([^;]+);", config):
        served.setdefault(folder.strip().strip("'\"").rstrip("/"), prefix.rstrip("/"))
    served = {folder: prefix for folder, prefix in served.items() if folder}  # never scan all of /
    if served:
        for path in _files_holding(lab.container("web"), pw.known, " ".join(f"'{f}'" for f in served)):
            for folder, prefix in served.items():
                if path.startswith(folder + "/"):
                    paths.append(prefix + path[len(folder):])
    problems = []
    for path in dict.fromkeys(paths):
        resp = lab.http("web", WEB_PORT, quote(path))
        leaked = pw.found_in(resp.body, pw.known)
        if resp.status is None:
            problems.append(f"GET {path} got {resp.describe()}: nginx must still answer, with 403 or 404 for this path")
        elif leaked:
            problems.append(f"GET {path} answered HTTP {resp.status} with {pw.label(leaked[0])} in its body ({len(resp.body)} bytes)")
        elif resp.status not in (403, 404):
            problems.append(f"GET {path} answered HTTP {resp.status}; a closed leak answers 403 or 404")
    return problems


def _app_problem(lab) -> str | None:
    """A row written to the database now must come back through nginx and the app."""
    sku = f"PB-{secrets.token_hex(4)}"
    label = f"probe {secrets.token_hex(6)}"
    db = lab.host("db")
    psql = "runuser -u postgres -- psql -X -q -d stockroom -v ON_ERROR_STOP=1 -c"
    written = db.run(f"{psql} \"INSERT INTO items (sku, name, qty) VALUES ('{sku}', '{label}', 7)\"")
    if written.rc != 0:
        said = " ".join((written.stderr or written.stdout).split())[:160]
        return f"could not write a probe row into the stockroom database (psql in the db container said {said!r}) — is PostgreSQL running?"
    try:
        resp = lab.http("web", WEB_PORT, "/api/items")
    finally:
        db.run(f"{psql} \"DELETE FROM items WHERE sku = '{sku}'\"")
    if resp.status is None:
        return f"GET /api/items on the web port got {resp.describe()} — is nginx running in the web container?"
    if resp.status in (502, 504):
        return f"GET /api/items through nginx answered HTTP {resp.status}: nginx cannot reach the app — is the app running (its container log says why not), and does the site still pass requests to it?"
    if resp.status == 503:
        return f"GET /api/items answered {resp.describe()}: the app cannot use the database — its container log says why"
    if resp.status != 200:
        return f"GET /api/items through nginx answered {resp.describe()}; it should list the stock from the database"
    try:
        items = {i["sku"]: i for i in json.loads(resp.body)["items"]}
    except (ValueError, KeyError, TypeError):
        return f"GET /api/items answered 200 but not with the app's stock list (saw {resp.describe()})"
    if items.get(sku, {}).get("name") != label:
        return "GET /api/items answered 200 but without a row just written to the database: the answer must come live from the database through the app"
    if f"CC-{lab.nonce[:10]}" not in items:
        return "GET /api/items answered 200 but this instance's stock is missing from it: the app must read the stockroom database of this lab"
    return None


def _log_problems(lab, pw: Passwords, since: float) -> list[str]:
    """Lines the app printed since ``since``, the app's whole container log, and PostgreSQL's log."""
    problems = []
    container = lab.container("app")
    window = container.logs(stdout=True, stderr=True, since=since).decode("utf-8", "replace")
    hits = [line for line in window.splitlines() if pw.found_in(line, pw.known)]
    if hits:
        which = pw.found_in(hits[0], pw.known)[0]
        problems.append(
            f"after a restart of the app container its log printed {pw.label(which)} in {len(hits)} line(s), e.g. "
            f"{pw.mask(hits[0].strip())[:160]!r} — look at what the app's settings tell it to log"
        )
    elif not window.strip():
        problems.append("the app printed nothing since its restart, not even its start-up line: its log must keep working, only the password must go — look at the app's settings and its runit service")
    elif "listening on" not in window:
        last = pw.mask(window.strip().splitlines()[-1].strip())[:160]
        problems.append(f"the app did not come up after a restart of its container; the last line it printed: {last!r} — its container log says more")
    history = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
    in_window = {p for line in hits for p in pw.found_in(line, pw.known)}
    current = [p for p in pw.live if p not in in_window]
    shipped = [line for line in history.splitlines() if pw.found_in(line, current)]
    if shipped:
        which = pw.found_in(shipped[0], current)[0]
        problems.append(
            f"the app's container log already holds a password that still logs in ({pw.label(which)}: {pw.mask(shipped[0].strip())[:120]!r}): "
            "a log stream that was shipped cannot be recalled, so that password has leaked too"
        )
    _, found = _grep(lab.container("db"), pw.live, f'-rhF -f "$f" {PG_LOGS}')
    lines = [line for line in found.splitlines() if line.strip()]
    if lines:
        problems.append(
            f"PostgreSQL's log ({PG_LOGS} in the db container) holds a password that still logs in ({pw.label(pw.found_in(lines[0], pw.live)[0])}): "
            f"{pw.mask(lines[0].strip())[:160]!r} — look at how role statements get logged and how the password was set"
        )
    return problems


def _summary(problems: list[str]) -> str:
    more = f" (and {len(problems) - 2} more)" if len(problems) > 2 else ""
    return " · also: ".join(problems[:2]) + more


# --- objectives ---------------------------------------------------------------------------


def test_app_unmodified(lab):
    """The stockroom app is unmodified and runs as its own user"""
    app = lab.host("app")
    shipped = hashlib.sha256((images_dir() / "stockroom" / "app.py").read_bytes()).hexdigest()
    running = app.run(f"sha256sum {APP_CODE}").stdout.split()[:1]
    assert running == [shipped], f"{APP_CODE} in the app container differs from the shipped app: the fix belongs in settings, permissions and the database, not in the code (labs reset starts over)"
    users: set[str] = set()
    deadline = time.monotonic() + 5  # runit may be between two starts of it
    while not users and time.monotonic() < deadline:
        procs = [line.split(None, 2) for line in app.run("ps -eo user:32=,comm=,args=").stdout.splitlines()]
        users = {p[0] for p in procs if len(p) == 3 and p[1].startswith("python") and APP_CODE in p[2]}
        if not users:
            time.sleep(0.2)
    assert users, f"no process runs {APP_CODE} in the app container — look at the app's runit service (its container log says why it stopped)"
    assert users == {APP_USER}, f"the app runs as {', '.join(sorted(users))}, not as its own user {APP_USER}: it must not need more than its own user's rights"


def test_password_rotated(lab):
    """The leaked database password is rotated: PostgreSQL rejects it, the app's new one works"""
    problem = _rotation_problem(lab)
    assert problem is None, problem


def test_secret_readable_only_by_app(lab):
    """In the app container, only the app's user can read the database password"""
    problems = _file_problems(lab, _passwords(lab))
    assert not problems, _summary(problems)


def test_web_serves_no_secret(lab):
    """nginx no longer serves the password: the leaked files answer 403 or 404"""
    problems = _web_problems(lab, _passwords(lab))
    assert not problems, _summary(problems) + " — look at what nginx in the web container serves from its document root"


def test_logs_carry_no_secret(lab):
    """No log prints the password: the app's output after a restart, and PostgreSQL's log"""
    pw = _passwords(lab)
    since = time.time()
    lab.restart("app")
    _wait_for_app(lab)
    lab.http("web", WEB_PORT, "/api/items")  # make it open a database connection
    time.sleep(0.3)
    problems = _log_problems(lab, pw, since)
    assert not problems, _summary(problems)


def test_app_works_through_nginx(lab):
    """The stockroom app serves live data from the database through nginx"""
    _wait_for_app(lab)
    problem = _app_problem(lab)
    assert problem is None, problem


def test_survives_restart(lab):
    """All of it survives a restart of the database, the app and nginx"""
    for service in ("db", "app", "web"):
        lab.restart(service)
    _wait_for_db(lab)
    _wait_for_app(lab)
    pw = _passwords(lab)
    problems = [p for p in (_rotation_problem(lab), _app_problem(lab)) if p]
    problems += _web_problems(lab, pw) + _file_problems(lab, pw)
    assert not problems, f"after restarting every service: {_summary(problems)} (a fix made only in a running process is lost on restart)"
