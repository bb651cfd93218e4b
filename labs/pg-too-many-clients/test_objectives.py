"""Objectives for pg-too-many-clients: 50 concurrent requests succeed and connections stay bounded.

The rush is fired by a pristine probe on the lab network (50 threads released at once),
each request carrying a fresh reference the database must hash into its answer, so only
real queries through the real path pass. Connections are counted from outside the
learner's reach: pg_stat_activity with psql from the probe image (as the superuser,
search_path=pg_catalog), and the app's sockets with `ss` from a probe that joins the
app's network namespace.
"""

from __future__ import annotations

import hashlib
import json
import time

import pytest

CONCURRENT = 50
MAX_APP_CONNECTIONS = 20  # what "bounded" means for the app's open database connections
MAX_SERVER_CONNECTIONS = 20  # ... and for the app role's backends in PostgreSQL
SANE_MAX_CONNECTIONS = 200  # a 256 MB box: more than this only moves the crash
SETTLE_S = 12

RUSH = r"""
import json, sys, threading, urllib.error, urllib.request
ref, n = sys.argv[1], int(sys.argv[2])
results = [None] * n
gate = threading.Barrier(n)
def one(i):
    gate.wait()
    url = f"http://app:8000/api/orders/summary?ref={ref}-{i}"
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            results[i] = [r.status, r.read().decode("utf-8", "replace")[:400]]
    except urllib.error.HTTPError as e:
        results[i] = [e.code, e.read().decode("utf-8", "replace")[:400]]
    except Exception as e:
        results[i] = [None, f"{type(e).__name__}: {e}"[:400]]
threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(results))
"""

_passed: set[str] = set()


class DbError(Exception):
    pass


def _psql(lab, sql: str, dbname: str = "shop") -> str:
    result = lab.probe(
        ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
        image="probe",
        env={
            "PGHOST": "db", "PGUSER": "postgres", "PGDATABASE": dbname, "PGPASSWORD": lab.values["admin_password"],
            "PGCONNECT_TIMEOUT": "5", "PGOPTIONS": "-c search_path=pg_catalog -c statement_timeout=10s", "PGSSLMODE": "disable",
        },
        timeout=30,
    )
    if result.exit_code != 0:
        raise DbError(" ".join(result.output.split())[:300] or f"exit code {result.exit_code}")
    return result.stdout.strip()


def _db_problem(err: DbError) -> str:
    return f"psql as postgres to db:5432 from the lab network failed ({err}) — is PostgreSQL running, and does it keep room for a superuser? Look at /var/log/postgresql/ in the db"


def _rush(lab) -> str | None:
    """50 concurrent requests from the lab network; each must answer with the database's proof."""
    try:
        orders = int(_psql(lab, "SELECT count(*) FROM public.orders"))
    except (DbError, ValueError) as err:
        return _db_problem(err) if isinstance(err, DbError) else f"counting the shop's orders gave {err}"
    ref = lab.trace_id()
    result = lab.probe(["python3", "-c", RUSH, ref, str(CONCURRENT)], image="probe", timeout=120)
    try:
        answers = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"the rush probe did not finish ({' '.join(result.output.split())[:200]})"
    failed, wrong = [], []
    for i, (status, body) in enumerate(answers):
        if status != 200:
            failed.append((status, body))
            continue
        want = hashlib.md5(f"{ref}-{i}:{orders}".encode()).hexdigest()
        try:
            got = json.loads(body)
        except ValueError:
            got = {}
        if got.get("proof") != want or got.get("orders") != orders:
            wrong.append(body)
    if failed:
        status, body = failed[0]
        seen = f"HTTP {status}" if status else "no answer"
        return (
            f"{len(failed)} of {CONCURRENT} concurrent requests to GET /api/orders/summary failed (first: {seen}: {' '.join(str(body).split())[:220]}) — "
            "count the connections at each hop while a rush runs: the app's pool, PgBouncer, PostgreSQL"
        )
    if wrong:
        return f"{len(wrong)} of {CONCURRENT} answers did not carry the database's own count and proof (first: {wrong[0][:160]!r}) — the summary must come from the shop database"
    return None


def _connections(lab) -> tuple[int, int] | str:
    """(the app's open TCP connections to ports 5432/6432, the app role's backends in PostgreSQL)."""
    ss = lab.probe(["ss", "-Htn", "state", "established", "( dport = :5432 or dport = :6432 )"], image="probe", join="app", timeout=30)
    if ss.exit_code != 0:
        return f"ss in the app's network namespace failed ({' '.join(ss.output.split())[:200]})"
    app = len([line for line in ss.stdout.splitlines() if line.strip()])
    try:
        server = int(_psql(lab, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'orders_app'"))
    except DbError as err:
        return _db_problem(err)
    return app, server


def _settled(lab) -> tuple[int, int] | str:
    """Connection counts once a rush is over: polled until both are within bounds, or SETTLE_S."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        counts = _connections(lab)
        if isinstance(counts, str):
            return counts
        if (counts[0] <= MAX_APP_CONNECTIONS and counts[1] <= MAX_SERVER_CONNECTIONS) or time.monotonic() > deadline:
            return counts
        time.sleep(2)


def _bounded_problem(lab) -> str | None:
    """Two rushes: after each, the app's connections and the server's backends stay bounded, and the second adds none."""
    seen = []
    for rush in (1, 2):
        problem = _rush(lab)
        if problem:
            return f"rush {rush}: {problem}"
        counts = _settled(lab)
        if isinstance(counts, str):
            return counts
        seen.append(counts)
        app, server = counts
        if app > MAX_APP_CONNECTIONS:
            return (
                f"{SETTLE_S} s after rush {rush} of {CONCURRENT} requests the app still holds {app} open connections to the database side "
                f"(more than {MAX_APP_CONNECTIONS}): its pool grows with every burst and gives nothing back — look at the app's [pool] settings"
            )
        if server > MAX_SERVER_CONNECTIONS:
            return (
                f"{SETTLE_S} s after rush {rush}, PostgreSQL has {server} backends of orders_app (more than {MAX_SERVER_CONNECTIONS}): "
                "connections pile up between the app and the database — look at how PgBouncer shares its server connections"
            )
    if seen[1][0] > max(seen[0][0], 1) + 2 or seen[1][1] > max(seen[0][1], 1) + 2:
        return f"the second rush added connections (app: {seen[0][0]} → {seen[1][0]}, PostgreSQL: {seen[0][1]} → {seen[1][1]}): something leaks them"
    return None


# --- objectives ----------------------------------------------------------------------------------

def test_fifty_concurrent_requests(lab):
    """50 concurrent requests to the summary API all succeed"""
    problem = _rush(lab)
    assert problem is None, problem
    _passed.add("rush")


def test_connections_bounded(lab):
    """Connections stay bounded after a rush, and a second rush adds none"""
    problem = _bounded_problem(lab)
    assert problem is None, problem
    _passed.add("bounded")


def test_max_connections_sane(lab):
    """PostgreSQL's connection limit stays sane for a small box"""
    try:
        limit = int(_psql(lab, "SELECT setting FROM pg_settings WHERE name = 'max_connections'", dbname="postgres"))
    except (DbError, ValueError) as err:
        pytest.fail(_db_problem(err) if isinstance(err, DbError) else f"max_connections read as {err}")
    assert limit <= SANE_MAX_CONNECTIONS, (
        f"max_connections is {limit}: each backend costs memory on a 256 MB box, so the crash only moves from refused clients to an out-of-memory kill — "
        "the connections must be pooled, not multiplied"
    )
    _passed.add("limit")


def test_code_unmodified(lab):
    """The app, PgBouncer and PostgreSQL run their original code"""
    problems = lab.integrity("app") + lab.integrity("app", ["/srv/app"]) + lab.integrity("bouncer") + lab.integrity("db")
    assert not problems, "; ".join(problems[:5]) + " — the repair is in configuration, not in code"
    _passed.add("code")


def test_survives_restart(lab):
    """It all still holds after every container restarts"""
    pending = {"rush", "bounded", "limit", "code"} - _passed
    if pending:
        pytest.skip("not tried yet: every container is restarted for this check once every other objective passes")
    lab.restart_all()
    problem = _bounded_problem(lab)
    assert problem is None, f"after restarting every container: {problem} (a fix that lives only in a running process is lost on restart)"
