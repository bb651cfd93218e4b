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

import pytest

CONCURRENT = 50
MAX_APP_CONNECTIONS = 20  # what "bounded" means for the app's open database connections
MAX_SERVER_CONNECTIONS = 20  # ... and for the app role's backends in PostgreSQL
SANE_MAX_CONNECTIONS = 200  # a 256 MB box: more than this only moves the crash
SETTLE_S = 12

# One probe, in the app's network namespace (so `ss` sees the app's sockets; names resolve as on
# the lab network): count the orders, fire the rush at app:8000, then optionally wait up to
# `settle` seconds for the connection counts to come within bounds, and report them.
RUSH = r"""
import json, subprocess, sys, threading, time, urllib.error, urllib.request
ref, n, settle, max_app, max_server = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
out = {}
def psql(sql):
    r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "db", "-c", sql], capture_output=True, text=True, timeout=30)
    if r.returncode:
        raise RuntimeError(" ".join((r.stderr or r.stdout).split())[:300])
    return r.stdout.strip()
try:
    out["orders"] = int(psql("SELECT count(*) FROM public.orders"))
except Exception as e:
    out["db_error"] = str(e)
    print(json.dumps(out)); sys.exit(0)
results = [None] * n
gate = threading.Barrier(n)
def one(i):
    gate.wait()
    try:
        with urllib.request.urlopen(f"http://app:8000/api/orders/summary?ref={ref}-{i}", timeout=110) as r:
            results[i] = [r.status, r.read().decode("utf-8", "replace")[:400]]
    except urllib.error.HTTPError as e:
        results[i] = [e.code, e.read().decode("utf-8", "replace")[:400]]
    except Exception as e:
        results[i] = [None, f"{type(e).__name__}: {e}"[:400]]
threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join()
out["answers"] = results
if settle > 0:
    deadline = time.monotonic() + settle
    while True:
        ss = subprocess.run(["ss", "-Htn", "state", "established", "( dport = :5432 or dport = :6432 )"], capture_output=True, text=True)
        app = len([l for l in ss.stdout.splitlines() if l.strip()])
        try:
            server = int(psql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'orders_app'"))
        except Exception as e:
            out["db_error"] = str(e); break
        out["app"], out["server"] = app, server
        if (app <= max_app and server <= max_server) or time.monotonic() > deadline:
            break
        time.sleep(1)
print(json.dumps(out))
"""

_passed: set[str] = set()


def _db_problem(said: str) -> str:
    return f"psql as postgres to db:5432 from the lab network failed ({said}) — is PostgreSQL running, and does it keep room for a superuser? Look at /var/log/postgresql/ in the db"


def _env(lab) -> dict[str, str]:
    return {
        "PGUSER": "postgres", "PGDATABASE": "shop", "PGPASSWORD": lab.values["admin_password"], "PGCONNECT_TIMEOUT": "5",
        "PGOPTIONS": "-c search_path=pg_catalog -c statement_timeout=10s", "PGSSLMODE": "disable",
    }


def _rush(lab, settle: float = 0) -> tuple[dict, str | None]:
    """50 concurrent requests; each must answer with the database's proof. (what the probe saw, problem)"""
    ref = lab.trace_id()
    argv = ["python3", "-c", RUSH, ref, str(CONCURRENT), str(settle), str(MAX_APP_CONNECTIONS), str(MAX_SERVER_CONNECTIONS)]
    result = lab.probe(argv, image="probe", join="app", env=_env(lab), timeout=180)
    try:
        seen = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {}, f"the rush probe did not finish ({' '.join(result.output.split())[:200]})"
    if "answers" not in seen:
        return seen, _db_problem(seen.get("db_error", "no answer"))
    orders, failed, wrong = seen["orders"], [], []
    for i, (status, body) in enumerate(seen["answers"]):
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
        return seen, (
            f"{len(failed)} of {CONCURRENT} concurrent requests to GET /api/orders/summary failed (first: {f'HTTP {status}' if status else 'no answer'}: "
            f"{' '.join(str(body).split())[:220]}) — count the connections at each hop while a rush runs: the app's pool, PgBouncer, PostgreSQL"
        )
    if wrong:
        return seen, f"{len(wrong)} of {CONCURRENT} answers did not carry the database's own count and proof (first: {wrong[0][:160]!r}) — the summary must come from the shop database"
    if "db_error" in seen:
        return seen, _db_problem(seen["db_error"])
    return seen, None


def _bounded_problem(lab) -> str | None:
    """Two rushes: after each, the app's connections and the server's backends stay bounded, and the second adds none."""
    counts = []
    for rush in (1, 2):
        seen, problem = _rush(lab, settle=SETTLE_S)
        if problem:
            return f"rush {rush}: {problem}"
        app, server = seen["app"], seen["server"]
        counts.append((app, server))
        if app > MAX_APP_CONNECTIONS:
            return (
                f"{SETTLE_S} s after rush {rush} of {CONCURRENT} requests the app still holds {app} open connections to the database side "
                f"(more than {MAX_APP_CONNECTIONS}): its pool grows with every burst and gives nothing back — look at the app's [pool] settings"
            )
        if server > MAX_SERVER_CONNECTIONS:
            return (
                f"{SETTLE_S} s after rush {rush}, PostgreSQL has {server} backends of orders_app (more than {MAX_SERVER_CONNECTIONS}): "
                "connections pile up between the app and the database — look at how they are pooled on the way"
            )
    (app1, server1), (app2, server2) = counts
    if app2 > max(app1, 1) + 2 or server2 > max(server1, 1) + 2:
        return f"the second rush added connections (app: {app1} → {app2}, PostgreSQL: {server1} → {server2}): something leaks them"
    return None


def _max_connections(lab) -> tuple[int | None, str | None]:
    result = lab.probe(["psql", "-X", "-q", "-At", "-h", "db", "-d", "postgres", "-c", "SELECT setting FROM pg_settings WHERE name = 'max_connections'"],
                       image="probe", env=_env(lab), timeout=30)
    text = result.stdout.strip()
    if result.exit_code != 0 or not text.isdigit():
        return None, _db_problem(" ".join(result.output.split())[:300])
    return int(text), None


# --- objectives ----------------------------------------------------------------------------------

def test_fifty_concurrent_requests(lab):
    """50 concurrent requests to the summary API all succeed"""
    _, problem = _rush(lab)
    assert problem is None, problem
    _passed.add("rush")


def test_connections_bounded(lab):
    """Connections stay bounded after a rush, and a second rush adds none"""
    problem = _bounded_problem(lab)
    assert problem is None, problem
    _passed.add("bounded")


def test_max_connections_sane(lab):
    """PostgreSQL's connection limit stays sane for a small box"""
    limit, problem = _max_connections(lab)
    assert problem is None, problem
    assert limit <= SANE_MAX_CONNECTIONS, (
        f"max_connections is {limit}: each backend costs memory on a 256 MB box, so the crash only moves from refused clients to an out-of-memory kill — "
        "the connections must be pooled, not multiplied"
    )
    _passed.add("limit")


def test_code_unmodified(lab):
    """The app runs its original code"""
    problems = lab.integrity("app") + lab.integrity("app", ["/srv/app"])
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
