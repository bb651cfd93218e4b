"""Objectives for leaky-secrets: every leak of the database password closed, the password rotated, the app still working.

Each test is one objective the learner reads in `labs check`. Failure messages
say what the probe saw and where to look, never the command that fixes it,
and never print a password: lines that hold one are shown with it masked.

Nothing here runs in the learner's containers. Files are read through the
engine (content, mode, owner, ACLs, symlinks followed), logins are tried with
psql from fresh probe containers (a separate client on the lab network, one in
the app's network namespace, one in the database's), HTTP goes through the
published port, logs come from the engine, and persistence restarts every
service.

Which password is which: the *leaked* one is this instance's
``values.db_password``; the *configured* ones are whatever database URLs (or
.pgpass lines) the files changed in the app container hold, read the way the
app reads its settings. A password is *live* while PostgreSQL accepts it, or
while a role's stored verifier still matches it. Files and logs are judged on
live passwords (a dead one is harmless); HTTP answers and the log lines
written after a restart on every known one.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import hashlib
import hmac
import io
import json
import lzma
import posixpath
import re
import tarfile
import time
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import quote, unquote, urljoin, urlsplit

import pytest


WEB_PORT = 80  # nginx's container port, published on 127.0.0.1
APP_USER = "stockroom"
ROLE = "stockroom"  # the role the leaked password belongs to
APP_CODE = "/srv/stockroom/app.py"
MIN_LENGTH = 16
PG_LOGS = ["/var/log/postgresql", "/var/lib/postgresql/15/main/log"]  # the server log, or its collector's folder
PG_DATA = "/var/lib/postgresql/15/main"
# What the database's provisioning wrote to the audit trail (log_statement = 'ddl'); an intact
# trail still holds it (with the password in it masked or not: it is dead once rotated).
# A .pgpass line: four fields without spaces (the port a number or *), then the password. Log lines
# full of colons ("03:53:47 … stockroom: … failed: …") are not passwords.
PGPASS_LINE = re.compile(r"^[^\s:]+:(?:\d+|\*):[^\s:]+:(?P<user>[^\s:]+):(?P<password>\S.*)$")
PROVISIONED = re.compile(r"statement: CREATE ROLE stockroom LOGIN PASSWORD")
KNOWN_LEAKS = ["/.env", "/stockroom.env.bak", "/stockroom.env", "/.env.bak", "/.env.old", "/.env~", "/env"]
CRAWL_LIMIT = 40
UNPACK_LIMIT = 16 * 1024 * 1024  # bytes an archive may unpack to, per member, when searched

REJECTED = ("password authentication failed", "is not permitted to log in", "no pg_hba.conf entry", "pg_hba.conf rejects", "does not exist")
UNREACHABLE = ("Connection refused", "could not translate host name", "timeout expired", "No route to host", "starting up", "shutting down", "server closed the connection")
CLIENTS = {  # how a login attempt reaches db:5432 -> (join, host)
    "a client on the lab network": (None, "db"),
    "the app's host": ("app", "db"),
    "the database host itself": ("db", "127.0.0.1"),
}

_runs: dict[str, object] = {}  # per-check-run memo (the fixture below clears it)


@pytest.fixture(scope="session", autouse=True)
def _fresh_run():
    _runs.clear()
    yield


# --- searching bytes for a password, archives included ----------------------------------------


def _forms(password: str) -> list[bytes]:
    """The password as it could appear in bytes: raw, percent-encoded inside a URL, base64."""
    forms = [password, quote(password, safe=""), quote(password), base64.b64encode(password.encode()).decode()]
    return [f.encode() for f in dict.fromkeys(forms) if f]


def _unpacked(data: bytes, depth: int = 0) -> list[bytes]:
    """``data`` and, if it is an archive or compressed, what it holds (a few levels deep)."""
    found = [data]
    if depth >= 3 or len(data) < 4:
        return found
    inner: list[bytes] = []
    try:
        if data[:2] == b"\x1f\x8b":
            inner.append(gzip.GzipFile(fileobj=io.BytesIO(data)).read(UNPACK_LIMIT))
        elif data[:3] == b"BZh":
            inner.append(bz2.BZ2Decompressor().decompress(data, UNPACK_LIMIT))
        elif data[:6] == b"\xfd7zXZ\x00":
            inner.append(lzma.LZMADecompressor().decompress(data, UNPACK_LIMIT))
        elif data[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                inner += [archive.open(name).read(UNPACK_LIMIT) for name in archive.namelist()[:200]]
        elif len(data) > 262 and data[257:262] == b"ustar":
            with tarfile.open(fileobj=io.BytesIO(data)) as archive:
                for member in archive.getmembers()[:200]:
                    handle = archive.extractfile(member) if member.isfile() else None
                    if handle is not None:
                        inner.append(handle.read(UNPACK_LIMIT))
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, tarfile.TarError, lzma.LZMAError):
        pass
    for blob in inner:
        found += _unpacked(blob, depth + 1)
    return found


def _found_in(data: bytes | str, passwords: list[str]) -> list[str]:
    """Which of ``passwords`` ``data`` holds, in any form, inside archives too."""
    blobs = _unpacked(data.encode() if isinstance(data, str) else data)
    return [p for p in passwords if any(form in blob for blob in blobs for form in _forms(p))]


@dataclass
class Passwords:
    leaked: str
    leaked_live: bool  # a client got in with it, or a role's verifier still matches it
    configured: list[str]  # passwords in the app container's settings that log in
    candidates: list[str]  # every password found in the app container's settings
    leaked_from_app: tuple[str, str] = ("unknown", "")  # the leaked password tried from the app's host: (state, what PostgreSQL said)

    @property
    def live(self) -> list[str]:
        return list(dict.fromkeys(self.configured + ([self.leaked] if self.leaked_live else [])))

    @property
    def known(self) -> list[str]:
        return list(dict.fromkeys([self.leaked, *self.candidates]))

    def label(self, password: str) -> str:
        return "the leaked password" if password == self.leaked else "the app's current password"

    def mask(self, text: str) -> str:
        for password in self.known:
            for form in _forms(password):
                text = text.replace(form.decode(), "***")
        return text


# --- the app's settings, read through the engine ----------------------------------------------


def _settings_passwords(content: bytes) -> list[tuple[str, str]]:
    """(user, password) from DATABASE_URL lines (the app's own format) and .pgpass lines."""
    found = []
    for line in content.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if key.strip() == "DATABASE_URL" and "://" in value:
            netloc = urlsplit(value).netloc.rpartition("@")[0]
            user, _, password = netloc.partition(":")
            if password:
                found.append((unquote(user), unquote(password)))
        else:
            entry = PGPASS_LINE.match(line)  # host:port:database:user:password, as libpq reads it
            if entry:
                found.append((entry["user"], entry["password"]))
    return found


def _changed_files(lab, service: str, skip: tuple[str, ...] = ()) -> list:
    """Files added or changed in a service's container since its image, read through the engine (once per run)."""
    key = f"changed:{service}:{skip}"
    if key not in _runs:
        _runs[key] = _read_changed(lab, service, skip)
    return _runs[key]


def _read_changed(lab, service: str, skip: tuple[str, ...]) -> list:
    files = []
    changed = lab.changed_paths(service)
    folders = {posixpath.dirname(path) for path in changed}  # a path with changes under it is a folder
    for path, kind in sorted(changed.items()):
        if kind == "D" or path in folders or any(path == s or path.startswith(s + "/") for s in skip) or path.startswith(("/proc/", "/sys/", "/dev/")):
            continue
        info = lab.read_file(service, path, follow=False)
        if info is not None and info.kind == "file":
            files.append(info)
    return files


# --- logins, from pristine probes -------------------------------------------------------------


def _logins(lab, attempts: list[tuple[str, str]], client: str) -> list[tuple[str, str]]:
    """Try each (role, password) with psql from a fresh probe; ('accepted' | 'rejected' | 'unreachable' | 'unknown', what PostgreSQL said) each."""
    join, host = CLIENTS[client]
    env = {"PGHOST": host, "PGPORT": "5432", "PGDATABASE": "stockroom", "PGCONNECT_TIMEOUT": "5", "PGSSLMODE": "prefer", "PGAPPNAME": "labs-check"}
    script = []
    for n, (role, password) in enumerate(attempts):
        env[f"LABS_U{n}"], env[f"LABS_P{n}"] = role, password
        script.append(f'out=$(PGUSER="$LABS_U{n}" PGPASSWORD="$LABS_P{n}" psql -X -q -At -c "SELECT 1" 2>&1); rc=$?; printf "%s<<labs %s\\n" "$(echo "$out" | tr "\\n" " ")" "$rc"')
    result = lab.probe(["sh", "-c", "\n".join(script)], image="probe", join=join, env=env, timeout=15 + 10 * len(attempts))
    answers = []
    for line in result.stdout.splitlines():
        said, _, code = line.rpartition("<<labs ")
        said = " ".join(said.split())
        if code.strip() == "0":
            answers.append(("accepted", ""))
        elif any(marker in said for marker in REJECTED):
            answers.append(("rejected", said))
        elif any(marker in said for marker in UNREACHABLE):
            answers.append(("unreachable", said))
        else:
            answers.append(("unknown", said))
    while len(answers) < len(attempts):
        answers.append(("unknown", " ".join(result.output.split())[-160:] or f"the probe exited {result.exit_code}"))
    return answers


def _superuser_sql(lab, sql: str) -> str:
    """One SQL command as the postgres superuser (its password is a lab value), from a probe on the lab network."""
    env = {
        "PGHOST": "db", "PGPORT": "5432", "PGDATABASE": "stockroom", "PGUSER": "postgres", "PGPASSWORD": lab.values["admin_password"],
        "PGCONNECT_TIMEOUT": "5", "PGOPTIONS": "-c search_path=pg_catalog -c lock_timeout=5s -c statement_timeout=20s", "LABS_SQL": sql,
    }
    result = lab.probe(["sh", "-c", 'psql -X -q -At -v ON_ERROR_STOP=1 -c "$LABS_SQL" 2>&1'], image="probe", env=env, timeout=40)
    if result.exit_code != 0:
        said = " ".join(result.output.split())[:200] or f"exit code {result.exit_code}"
        raise AssertionError(f"the checks could not run SQL as the postgres superuser (psql said {said!r}) — is PostgreSQL running? The checks log in with the password the lab set for postgres (labs reset restores it)")
    return result.stdout.strip()


def _scram_matches(verifier: str, password: str) -> bool:
    """Whether PostgreSQL's stored ``verifier`` (SCRAM-SHA-256 or md5) is the one of ``password``."""
    match = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)", verifier or "")
    if match:
        iterations, salt, stored, _ = match.groups()
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
        client_key = hmac.new(salted, b"Client Key", "sha256").digest()
        return hmac.compare_digest(base64.b64encode(hashlib.sha256(client_key).digest()).decode(), stored)
    return False


def _roles_with(lab, password: str) -> list[str]:
    """Login roles whose stored verifier matches ``password`` (checked here; nothing is sent)."""
    if "verifiers" not in _runs:  # once per run (and again after the restart)
        _runs["verifiers"] = json.loads(_superuser_sql(lab, "SELECT coalesce(json_agg(json_build_array(rolname, rolpassword)), '[]') FROM pg_catalog.pg_authid WHERE rolcanlogin") or "[]")
    rows = _runs["verifiers"]
    found = []
    for role, verifier in rows:
        if verifier and verifier.startswith("md5"):
            if verifier == "md5" + hashlib.md5((password + role).encode()).hexdigest():
                found.append(role)
        elif _scram_matches(verifier, password):
            found.append(role)
    return found


def _passwords(lab) -> Passwords:
    if "passwords" in _runs:
        return _runs["passwords"]
    leaked = lab.values["db_password"]
    pairs = list(dict.fromkeys(pair for info in _changed_files(lab, "app") for pair in _settings_passwords(info.content or b"")))
    pairs = [(user, pw) for user, pw in pairs if pw != leaked]
    attempts = [(ROLE, leaked)] + pairs
    answers = _logins(lab, attempts, "the app's host")
    configured = [pw for (_, pw), (state, _) in zip(pairs, answers[1:]) if state == "accepted"]
    leaked_live = answers[0][0] != "rejected" or bool(_roles_with(lab, leaked))
    _runs["passwords"] = Passwords(leaked, leaked_live, list(dict.fromkeys(configured)), list(dict.fromkeys(pw for _, pw in pairs)), answers[0])
    return _runs["passwords"]


def _trivial_variant(new: str, old: str) -> bool:
    """Whether ``new`` is the old password dressed up: it contains it (or the reverse), or shares
    a long run of characters with it (case aside), or is a few edits away from it."""
    a, b = new.lower(), old.lower()
    if b in a or a in b or b[::-1] in a:
        return True
    longest = 0
    for i in range(len(a)):
        for j in range(len(b)):
            k = 0
            while i + k < len(a) and j + k < len(b) and a[i + k] == b[j + k]:
                k += 1
            longest = max(longest, k)
    if longest >= min(8, len(b) // 2):
        return True
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1] <= len(b) // 2


# --- the judgements, shared by the objectives and the restart check -------------------------


def _rotation_problem(lab) -> str | None:
    leaked = lab.values["db_password"]
    for client in CLIENTS:
        # From the app's host, the leaked password was tried with the app's own (one probe).
        state, said = _passwords(lab).leaked_from_app if client == "the app's host" else _logins(lab, [(ROLE, leaked)], client)[0]
        if state == "accepted":
            return f"PostgreSQL still accepts the leaked password for role {ROLE} from {client}: whoever read it can still log in"
        if state == "unreachable":
            return f"could not reach PostgreSQL from {client} ({said[:160]}) — the database must be up to prove the rotation"
        if state == "unknown":
            return f"could not tell whether the leaked password still works from {client}: PostgreSQL answered {said[:160]!r}"
    still = _roles_with(lab, leaked)
    if still:
        return (
            f"role {', '.join(still)} still has the leaked password (the verifier PostgreSQL stores for it matches), though the clients tried were refused: "
            "refusing logins by address or rule is not rotating — any client those rules let through gets in"
        )
    pw = _passwords(lab)
    if not pw.configured:
        if pw.candidates:
            return "no database URL in the app container's settings logs in (tried the way the app connects, from its host): the app must find the new password in its settings"
        return "found no database URL with a password in the app container's settings (the file the app reads, /etc/stockroom/stockroom.env or the one STOCKROOM_CONFIG names): the app must run with the new one"
    for password in pw.configured:
        if _trivial_variant(password, leaked):
            return "the app's new password is a variant of the leaked one (it keeps most of it): anyone holding the old one guesses it — generate a new random password"
        if len(password) < MIN_LENGTH:
            return f"the app's new password is only {len(password)} characters long: use a random one of {MIN_LENGTH} or more"
    return None


def _pristine_app(lab) -> tuple[str, str, str]:
    """/etc/passwd and /etc/group of the pristine app image, and ``ps -eo uid=,args=`` of the app
    container's processes (the image's own ps, in the app's pid namespace): one probe per run."""
    if "pristine_app" not in _runs:
        result = lab.probe(["sh", "-c", "cat /etc/passwd; echo ::labs::; cat /etc/group; echo ::labs::; ps -eo uid=,args="], service="app", join="app", pid=True, timeout=30)
        passwd, _, rest = result.stdout.partition("::labs::\n")
        group, _, processes = rest.partition("::labs::\n")
        _runs["pristine_app"] = (passwd, group, processes)
    return _runs["pristine_app"]


def _accounts(lab) -> tuple[dict[int, str], dict[int, str], dict[str, set[str]]]:
    """uid -> user and gid -> group from the pristine app image (a learner's edits to /etc/passwd
    cannot make another account look like the app's), and group -> members as they are now."""
    if "accounts" not in _runs:
        passwd, group, _ = _pristine_app(lab)
        users = {int(f[2]): f[0] for f in (line.split(":") for line in passwd.splitlines()) if len(f) > 3 and f[2].isdigit()}
        groups = {int(f[2]): f[0] for f in (line.split(":") for line in group.splitlines()) if len(f) > 3 and f[2].isdigit()}
        # Membership as it is now: a user added to the app's group can read what the group can.
        live = lab.read_file("app", "/etc/group")
        members = {}
        text = (live.content or b"").decode("utf-8", "replace") if live else ""
        for fields in (line.split(":") for line in text.splitlines()):
            if len(fields) > 3:
                members[fields[0]] = {m for m in fields[3].split(",") if m}
        _runs["accounts"] = (users, groups, members)
    return _runs["accounts"]


def _exposure(lab, info) -> str | None:
    """Who beyond root and the app's user can read the file ``info`` (after symlinks), or None."""
    users, groups, members = _accounts(lab)
    allowed_users = {uid for uid, name in users.items() if name in ("root", APP_USER)} | {0}
    allowed_groups = {gid for gid, name in groups.items() if name in ("root", APP_USER) and members.get(name, set()) <= {"root", APP_USER}} | {0}
    chain = []
    folder = posixpath.dirname(info.real_path or info.path)
    while True:
        chain.append(lab.read_file("app", folder) if folder != "/" else None)
        if folder == "/":
            break
        folder = posixpath.dirname(folder)
    dirs = [d for d in chain if d is not None]

    if info.mode & 0o004 and all(d.mode & 0o001 for d in dirs):
        return "every local user can read it"
    if info.uid not in allowed_users and info.mode & 0o400:
        return f"it belongs to user {users.get(info.uid, info.uid)}"
    if info.gid not in allowed_groups and info.mode & 0o040 and all(d.mode & 0o001 or (d.gid == info.gid and d.mode & 0o010) for d in dirs):
        return f"group {groups.get(info.gid, info.gid)} can read it"
    acl = info.acl
    mask = next((e.split(":")[2] for e in acl if e.startswith("mask::")), "rwx")
    for entry in acl:
        kind, name, perms = (entry.split(":") + ["", ""])[:3]
        if kind in ("user", "group") and name and name not in ("root", APP_USER) and "r" in perms and "r" in mask:
            return f"{kind} {name} can read it through an ACL entry ({entry})"
    return None


def _file_problems(lab, pw: Passwords) -> list[str]:
    """Every file in the app container that holds a live password must be private to the app's
    user; no other container holds a copy (PostgreSQL's own log is the log objective's)."""
    problems = []
    if not pw.live:
        return problems
    for info in _changed_files(lab, "app"):
        holding = _found_in(info.content or b"", pw.live)
        if holding:
            why = _exposure(lab, info)
            if why:
                users, groups, _ = _accounts(lab)
                owner = f"{users.get(info.uid, info.uid)}:{groups.get(info.gid, info.gid)}"
                problems.append(f"{info.path} in the app container holds {pw.label(holding[0])}, and {why} (mode {info.mode:04o}, owner {owner})")
    for service, skip in (("web", ()), ("db", (PG_DATA, *PG_LOGS))):
        for info in _changed_files(lab, service, skip):
            holding = _found_in(info.content or b"", pw.live)
            if holding:
                problems.append(f"{info.path} in the {service} container holds a copy of {pw.label(holding[0])}: only the app needs it")
    return problems


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [value for name, value in attrs if name in ("href", "src") and value]


def _variants(path: str) -> list[str]:
    """Ways to spell a URL path that a server may map to the same file."""
    name = path.lstrip("/")
    encoded_dots = "/" + name.replace(".", "%2e")
    last = "/" + name[:-1] + f"%{ord(name[-1]):02x}" if name else path
    return list(dict.fromkeys([path, "/" + path, "/./" + name, "/static/../" + name, path + "?labs", encoded_dots, last, path.replace("/", "//")]))


def _url_candidates(lab, pw: Passwords) -> list[str]:
    """The known leaks, and every URL suffix of every file in the web container that holds a password."""
    paths = list(KNOWN_LEAKS)
    for info in _changed_files(lab, "web"):
        if _found_in(info.content or b"", pw.known):
            parts = info.path.strip("/").split("/")
            paths += ["/" + "/".join(parts[i:]) for i in range(len(parts))]
    return [variant for path in dict.fromkeys(paths) for variant in _variants(path)]


def _web_problems(lab, pw: Passwords) -> list[str]:
    """Every spelling of every candidate URL, and a crawl of the site: does any answer carry a password?"""
    front = lab.http("web", WEB_PORT, "/")
    if front.status is None:
        return [f"nginx does not answer on the web port ({front.describe()}): it must keep serving the site"]
    served, asked = set(), 0
    queue, seen = ["/", *_url_candidates(lab, pw)], set()
    limit = len(queue) + CRAWL_LIMIT
    while queue and asked < limit:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        asked += 1
        resp = lab.http("web", WEB_PORT, path)
        if resp.status is None:
            continue
        if _found_in(resp.raw or resp.body, pw.known):
            served.add(path)
        links = []
        if "html" in resp.headers.get("content-type", "") and len(seen) < CRAWL_LIMIT:
            parser = _Links()
            parser.feed(resp.body)
            links = parser.links
        if resp.headers.get("location"):
            links.append(resp.headers["location"])
        for link in links:
            target = urlsplit(urljoin(f"http://site{path}", link))
            if target.netloc in ("site", "") and target.path and target.path not in seen:
                queue.append(target.path)
    if not served:
        return []
    return [f"{len(served)} of the {asked} requests made to the site got a password back: {', '.join(sorted(served)[:12])}"]


def _app_problem(lab) -> str | None:
    """A count written to the database now must come back from /api/items through nginx and the app."""
    sku = f"CC-{lab.nonce[:10]}"  # this instance's cycle-count row: a fresh random count each time
    count = 1000 + int(lab.trace_id()[-6:], 16) % 900000
    try:
        updated = _superuser_sql(lab, f"UPDATE public.items SET qty = {count} WHERE sku = '{sku}' RETURNING sku")
    except AssertionError as err:
        return str(err)
    if not updated:
        return f"this instance's stock row {sku} is gone from the stockroom database's items table: the app must serve this lab's stock (labs reset starts over)"
    resp = lab.http("web", WEB_PORT, "/api/items")
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
    if sku not in items:
        return "GET /api/items answered 200 but this instance's stock is missing from it: the app must read the stockroom database of this lab"
    if items[sku].get("qty") != count:
        return "GET /api/items answered 200 but without a count just written to the database: the answer must come live from the database through the app"
    return None


def _audit_problems(lab, pw: Passwords) -> list[str]:
    """PostgreSQL's audit trail, read through the engine: intact, still written, and free of live passwords."""
    marker = "labs_audit_" + lab.trace_id()[-12:]
    try:
        _superuser_sql(lab, f"CREATE TEMP TABLE {marker} ()")
    except AssertionError as err:
        return [str(err)]
    logs: list = []
    for _ in range(10):
        logs = [i for root in PG_LOGS if lab.read_file("db", root) for i in lab.walk("db", root) if i.kind == "file"]
        logs = [lab.read_file("db", i.path) or i if i.content is None else i for i in logs]  # over the walk's 1 MiB
        if any(marker.encode() in blob for info in logs for blob in _unpacked(info.content or b"")):
            break
        time.sleep(0.5)
    else:
        return [
            f"PostgreSQL's audit trail is not being written: a DDL statement the check ran just now is in no log under {' or '.join(PG_LOGS)} "
            "in the db container — SEC-1203 keeps every schema and role change in the server log"
        ]
    problems = []
    if not any(PROVISIONED.search(blob.decode("utf-8", "replace")) for info in logs for blob in _unpacked(info.content or b"")):
        problems.append(
            "PostgreSQL's audit trail no longer holds the role statements it logged when the database was set up: it was cut or emptied, "
            "and a trail that was cut cannot show that a new password was never written to it"
        )
    for info in logs:
        for blob in _unpacked(info.content or b""):
            holding = _found_in(blob, pw.live)
            if holding:
                line = next((line for line in blob.decode("utf-8", "replace").splitlines() if _found_in(line, holding)), "")
                problems.append(
                    f"PostgreSQL's log ({info.path} in the db container) holds {pw.label(holding[0])}, which still logs in: "
                    f"{pw.mask(line.strip())[:160]!r} — look at how role statements get logged and how the password was set"
                )
                break
    return problems


def _log_problems(lab, pw: Passwords, since: float) -> list[str]:
    """Lines the app printed since ``since``, the app's whole container log, and PostgreSQL's log."""
    problems = []
    window = lab.logs("app", since=since)
    hits = [line for line in window.splitlines() if _found_in(line, pw.known)]
    if hits:
        which = _found_in(hits[0], pw.known)[0]
        problems.append(
            f"after a restart of the app container its log printed {pw.label(which)} in {len(hits)} line(s), e.g. "
            f"{pw.mask(hits[0].strip())[:160]!r} — look at what the app's settings tell it to log"
        )
    elif not window.strip():
        problems.append("the app printed nothing since its restart, not even its start-up line: its log must keep working, only the password must go — look at the app's settings and its runit service")
    elif "listening on" not in window:
        last = pw.mask(window.strip().splitlines()[-1].strip())[:160]
        problems.append(f"the app did not come up after a restart of its container; the last line it printed: {last!r} — its container log says more")
    in_window = {p for line in hits for p in _found_in(line, pw.known)}
    current = [p for p in pw.live if p not in in_window]
    shipped = [line for line in lab.logs("app").splitlines() if _found_in(line, current)]
    if shipped:
        which = _found_in(shipped[0], current)[0]
        problems.append(
            f"the app's container log already holds a password that still logs in ({pw.label(which)}: {pw.mask(shipped[0].strip())[:120]!r}): "
            "a log stream that was shipped cannot be recalled, so that password has leaked too"
        )
    return problems + _audit_problems(lab, pw)


def _summary(problems: list[str]) -> str:
    more = f" (and {len(problems) - 2} more)" if len(problems) > 2 else ""
    return " · also: ".join(problems[:2]) + more


AFTER_RESTART = 45  # seconds: a restart of the database, the app and nginx on a busy machine took more than 15


def _wait_for_app(lab, timeout: float = 15) -> None:
    """Give a restarted stack a moment: until the app answers through nginx, or the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if lab.http("web", WEB_PORT, "/api/items", timeout=5).status == 200:
            return
        time.sleep(0.5)


# --- objectives ---------------------------------------------------------------------------


def test_app_unmodified(lab):
    """The stockroom app and its runtime are as shipped, and it runs as its own user"""
    problems = lab.integrity("app", also=[APP_CODE])
    assert not problems, (
        f"the app container differs from the stockroom image: {'; '.join(problems[:3])}{f' (and {len(problems) - 3} more)' if len(problems) > 3 else ''} "
        "— the fix belongs in settings, permissions, the web server and the database, not in the code or its runtime (labs reset starts over)"
    )
    users, _, _ = _accounts(lab)
    app_uid = next(uid for uid, name in users.items() if name == APP_USER)
    running: set[int] = set()
    deadline = time.monotonic() + 8  # runit may be between two starts of it
    while not running and time.monotonic() < deadline:
        processes = _pristine_app(lab)[2]
        running = {int(line.split(None, 1)[0]) for line in processes.splitlines() if APP_CODE in line and "python" in line and line.split(None, 1)[0].isdigit()}
        if not running:
            _runs.pop("pristine_app", None)
            time.sleep(0.5)
    assert running, f"no process runs {APP_CODE} in the app container — look at the app's runit service (its container log says why it stopped)"
    assert running == {app_uid}, f"the app runs as {', '.join(users.get(u, str(u)) for u in sorted(running))}, not as its own user {APP_USER}: it must not need more than its own user's rights"


def test_password_rotated(lab):
    """The leaked database password is rotated: refused from every client, and the app's new one is really new"""
    problem = _rotation_problem(lab)
    assert problem is None, problem


def test_secret_readable_only_by_app(lab):
    """Only the app's user can read the database password: no other user, group, ACL, copy or host"""
    problems = _file_problems(lab, _passwords(lab))
    assert not problems, _summary(problems)


@pytest.mark.discovery("a database password is still served over HTTP")
def test_web_serves_no_secret(lab):
    """The web site serves the password nowhere, however the request is spelled"""
    problems = _web_problems(lab, _passwords(lab))
    assert not problems, _summary(problems)


def test_logs_carry_no_secret(lab):
    """No log prints the password: the app's output after a restart, and PostgreSQL's intact audit trail"""
    pw = _passwords(lab)
    since = time.time()
    lab.restart("app")
    _wait_for_app(lab, AFTER_RESTART)
    time.sleep(0.3)
    problems = _log_problems(lab, pw, since)
    assert not problems, _summary(problems)


def test_app_works_through_nginx(lab):
    """The stockroom app serves live data from the database through nginx"""
    _wait_for_app(lab)
    problem = _app_problem(lab)
    assert problem is None, problem


def test_survives_restart(lab, request):
    """All of it survives a restart of every service"""
    failing = request.session.testsfailed
    assert not failing, (
        f"not tried yet: {failing} objective(s) above still fail, and a restart of every service proves only a fix that works — "
        "make them pass first"
    )
    lab.restart_all()
    _wait_for_app(lab, AFTER_RESTART)
    # Files live on the containers' disks and survive a restart as they are; what a restart can
    # undo is what only ran in a process: the database's, nginx's and the app's running state.
    _runs.pop("passwords", None)
    _runs.pop("verifiers", None)
    pw = _passwords(lab)
    problems = [p for p in (_rotation_problem(lab), _app_problem(lab)) if p]
    if _web_problems(lab, pw):  # a search: say that something is served again, not where
        problems.append("a database password is served over HTTP again")
    assert not problems, f"after restarting every service: {_summary(problems)} (a fix made only in a running process is lost on restart)"
