"""Objectives for slow-postgres: the customer statement is fast again, correct, and stays so.

Each test is one objective the learner reads in `labs check`. Failure messages
say what the probe saw and where to look, never the command that fixes it.

The shop's data is generated from the instance's seed (files/*.sql), so the
checks regenerate the expected rows and answers on their own: a statement that
is fast because orders went missing, or an answer copied from another
instance, cannot pass.
"""

import hashlib
import json
import math
import random
import shlex
import statistics
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

import pytest

APP_PORT = 8000  # the app's container port, published on 127.0.0.1
BUDGET_MS = 100  # p95 budget of the statement endpoint, measured from outside
REQUESTS = 20
N_CUSTOMERS = 40_000
N_ORDERS = 1_200_000
TABLES = ("customers", "orders", "order_items")
NOT_REVENUE = ("cancelled", "refunded")

# The app's own statements (images/statement-api/app.py in this lab), as EXPLAIN sees them.
APP_QUERIES = {
    "customer summary": (
        "orders",
        "SELECT count(*), coalesce(sum(total_cents) FILTER (WHERE status NOT IN ('cancelled', 'refunded')), 0), max(placed_at) "
        "FROM orders WHERE customer_id = {customer}",
    ),
    "spend per year": (
        "orders",
        "SELECT extract(year FROM placed_at)::int AS year, count(*), "
        "coalesce(sum(total_cents) FILTER (WHERE status NOT IN ('cancelled', 'refunded')), 0) "
        "FROM orders WHERE customer_id = {customer} GROUP BY 1 ORDER BY 1",
    ),
    "recent orders": (
        "orders",
        "SELECT id, placed_at, status, channel, total_cents FROM orders WHERE customer_id = {customer} ORDER BY placed_at DESC LIMIT 20",
    ),
    "order lines": (
        "order_items",
        "SELECT line_no, sku, quantity, unit_price_cents FROM order_items WHERE order_id = {order} ORDER BY line_no",
    ),
}
FILTER_COLUMN = {"orders": "customer_id", "order_items": "order_id"}
INDEX_SCANS = {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}

# Fingerprints of each table's content (row count and sums over every column), computed the
# same way over the table and over the generator. Cheap enough to run on every check.
FINGERPRINT = {
    "customers": "count(*), sum(hashtext(concat_ws('|', id, name, email, country, extract(epoch FROM created_at)::bigint)))",
    "orders": (
        "count(*), sum(id * 3 + customer_id), sum(extract(epoch FROM placed_at)::bigint), sum(total_cents), "
        "sum(hashtext(status || channel || currency || shipping_country))"
    ),
    "order_items": "count(*), sum(order_id * 5 + line_no + id), sum(quantity * unit_price_cents + unit_price_cents), sum(hashtext(sku))",
}

_rng = random.SystemRandom()
_passed: set[str] = set()  # objectives that passed in this run (the restart objective waits for them)


# --- talking to PostgreSQL in the db container ------------------------------------------------

class DbError(Exception):
    pass


def _psql(lab, sql: str, *, as_app: bool = False) -> str:
    """Run one SQL command with psql inside the db container; its output, or DbError saying why not.

    As the app: over TCP with the app's role and password, so role settings apply
    as they do to the app. Otherwise: as the postgres superuser. Lock waits and
    runaway statements are cut short so a check never hangs on a lock.
    """
    options = "PGOPTIONS='-c lock_timeout=5s -c statement_timeout=25s'"
    if as_app:
        command = f"{options} PGPASSWORD={shlex.quote(lab.values['db_password'])} psql -X -q -At -h 127.0.0.1 -U shop_app -d shop -c {shlex.quote(sql)}"
    else:
        command = f"{options} runuser -u postgres -- psql -X -q -At -d shop -c {shlex.quote(sql)}"
    result = lab.host("db").run(command)
    if result.rc != 0:
        said = " ".join((result.stderr or result.stdout).split())[:300] or f"exit code {result.rc}"
        raise DbError(said)
    return result.stdout.strip()


def _json(lab, sql: str, *, as_app: bool = False):
    out = _psql(lab, sql, as_app=as_app)
    try:
        return json.loads(out)
    except ValueError:
        raise DbError(f"unexpected output {out[:200]!r}") from None


def _db_problem(err: DbError, who: str = "the postgres superuser") -> str:
    text = str(err)
    if "lock timeout" in text:
        return f"a query as {who} waited more than 5 s for a lock ({text}) — something holds or queues for an exclusive lock on the shop's tables: look at pg_stat_activity and pg_locks"
    if "could not connect" in text or "Connection refused" in text or "No such file" in text:
        return f"PostgreSQL in the db container does not accept connections as {who} (psql said: {text}) — is the server running? Look at /var/log/postgresql/ in the db container"
    return f"psql as {who} in the db container failed: {text}"


@cache
def _generator(lab_dir: Path, name: str, seed: str, ids: str = "") -> str:
    """The generator query that break.py loaded ``name`` from, for this instance's seed."""
    if not seed.isalnum():
        raise ValueError("unexpected seed")
    text = (Path(lab_dir) / "files" / f"{name}.sql").read_text(encoding="utf-8")
    return text.replace("__SEED__", f"hashtext('{seed}')::bigint").replace("__IDS__", ids)


def _gen(lab, name: str, ids: str = "") -> str:
    return _generator(lab.lab_dir, name, lab.values["seed"], ids)


def _wait_for_postgres(lab, seconds: float = 25) -> str | None:
    """After a restart: wait until the server answers (within one command deadline); a problem, or None."""
    host = lab.host("db")
    result = host.run(f"for i in $(seq {int(seconds * 2)}); do runuser -u postgres -- psql -X -q -At -d shop -c 'SELECT 1' >/dev/null 2>&1 && exit 0; sleep 0.5; done; exit 1")
    if result.rc == 0:
        return None
    log = host.run("tail -n 5 /var/log/postgresql/postgresql-15-main.log 2>/dev/null").stdout.strip().splitlines()[-3:]
    return f"PostgreSQL did not accept connections within {seconds:g} s of the restart (last log lines: {' | '.join(log) or 'none'}) — look at /var/log/postgresql/ in the db container"


# --- what the data set says --------------------------------------------------------------------

def _epoch(text: str | None) -> int | None:
    if text is None:
        return None
    return int(datetime.fromisoformat(text).timestamp())


def _expected_statements(lab, customers: list[int]) -> dict[int, dict]:
    """Regenerate these customers' orders and lines from the seed and build the statements they must get."""
    ids = ",".join(str(c) for c in customers)
    every_order = f"generate_series(1, {N_ORDERS})"
    sql = (
        "WITH sel AS MATERIALIZED ("
        "SELECT id, customer_id, extract(epoch FROM placed_at)::bigint AS placed_at, status, channel, total_cents "
        f"FROM ({_gen(lab, 'orders', every_order)}) AS g WHERE customer_id IN ({ids})) "
        "SELECT json_build_object("
        "'orders', (SELECT coalesce(json_agg(sel), '[]') FROM sel), "
        f"'lines', (SELECT coalesce(json_agg(i), '[]') FROM ({_gen(lab, 'order_items', 'unnest(ARRAY(SELECT id FROM sel))')}) AS i), "
        f"'customers', (SELECT coalesce(json_agg(c), '[]') FROM ({_gen(lab, 'customers')}) AS c WHERE c.id IN ({ids})))"
    )
    data = _json(lab, sql)
    lines: dict[int, list] = {}
    for line in sorted(data["lines"], key=lambda r: (r["order_id"], r["line_no"])):
        lines.setdefault(line["order_id"], []).append(
            {"line": line["line_no"], "sku": line["sku"], "quantity": line["quantity"], "unit_price_cents": line["unit_price_cents"]}
        )
    expected = {}
    for cust in data["customers"]:
        mine = [o for o in data["orders"] if o["customer_id"] == cust["id"]]
        years: dict[int, list[int]] = {}
        for o in mine:
            year = datetime.fromtimestamp(o["placed_at"], timezone.utc).year
            entry = years.setdefault(year, [0, 0])
            entry[0] += 1
            entry[1] += 0 if o["status"] in NOT_REVENUE else o["total_cents"]
        recent = sorted(mine, key=lambda o: o["placed_at"], reverse=True)[:20]
        expected[cust["id"]] = {
            "customer": {"id": cust["id"], "name": cust["name"], "email": cust["email"], "country": cust["country"], "customer_since": cust["created_at"][:10]},
            "summary": {
                "orders": len(mine),
                "lifetime_spend_cents": sum(o["total_cents"] for o in mine if o["status"] not in NOT_REVENUE),
                "last_order_at": max((o["placed_at"] for o in mine), default=None),
            },
            "by_year": [{"year": y, "orders": n, "spend_cents": s} for y, (n, s) in sorted(years.items())],
            "recent_orders": [
                {"id": o["id"], "placed_at": o["placed_at"], "status": o["status"], "channel": o["channel"], "total_cents": o["total_cents"], "lines": lines.get(o["id"], [])}
                for o in recent
            ],
        }
    return expected


def _normalise(answer: dict) -> dict:
    """The app's answer with its timestamps as epoch seconds, and without its timing field."""
    answer = json.loads(json.dumps(answer))
    answer.pop("generated_ms", None)
    summary = answer.get("summary") or {}
    summary["last_order_at"] = _epoch(summary.get("last_order_at"))
    for order in answer.get("recent_orders") or []:
        order["placed_at"] = _epoch(order.get("placed_at"))
    return answer


def _first_difference(got, want, where: str = "") -> str | None:
    if isinstance(want, dict) and isinstance(got, dict):
        for key in want:
            if key not in got:
                return f"{where}{key} is missing"
            diff = _first_difference(got[key], want[key], f"{where}{key}.")
            if diff:
                return diff
        return None
    if isinstance(want, list) and isinstance(got, list):
        if len(got) != len(want):
            return f"{where.rstrip('.')} has {len(got)} entries where the shop's data has {len(want)}"
        for n, (g, w) in enumerate(zip(got, want)):
            diff = _first_difference(g, w, f"{where.rstrip('.')}[{n}].")
            if diff:
                return diff
        return None
    if got != want:
        return f"{where.rstrip('.')} is {got!r} where the shop's data says {want!r}"
    return None


# --- probes ------------------------------------------------------------------------------------

def _statement_path(customer: int) -> str:
    return f"/api/customers/{customer}/statement"


def _latency_problem(lab) -> str | None:
    """20 statement requests from outside through the published port: a problem, or None."""
    port = lab.port("app", APP_PORT)
    warm = lab.http("app", APP_PORT, _statement_path(_rng.randint(1, N_CUSTOMERS)), timeout=30)
    if warm.status != 200:
        return f"GET {_statement_path('<id>')} on 127.0.0.1:{port} got {warm.describe()} — the statement endpoint must answer before it can be fast; look at the app's log (/var/log/statement-api/access.log) and at PostgreSQL"
    times, slow = [], []
    for _ in range(REQUESTS):
        customer = _rng.randint(1, N_CUSTOMERS)
        resp = lab.http("app", APP_PORT, _statement_path(customer), timeout=30)
        if resp.status != 200:
            return f"GET {_statement_path(customer)} got {resp.describe()} after {resp.seconds * 1000:.0f} ms"
        ms = resp.seconds * 1000
        times.append(ms)
        if ms > BUDGET_MS:
            slow.append(ms)
        if len(slow) >= 2:
            # With two requests over budget the p95 of 20 cannot be under it: stop early.
            return (
                f"{len(slow)} of the first {len(times)} statement requests took longer than {BUDGET_MS} ms "
                f"({', '.join(f'{t:.0f} ms' for t in slow)}; median so far {statistics.median(times):.0f} ms), "
                f"so the p95 of {REQUESTS} cannot be under the budget — find where PostgreSQL spends that time on the app's queries"
            )
    p95 = sorted(times)[math.ceil(0.95 * len(times)) - 1]
    if p95 > BUDGET_MS:
        return f"p95 over {len(times)} statement requests was {p95:.0f} ms (median {statistics.median(times):.0f} ms, slowest {max(times):.0f} ms), over the {BUDGET_MS} ms budget"
    return None


def _scans(plan: dict, table: str) -> list[str]:
    """Every scan of ``table`` in an EXPLAIN (FORMAT JSON) plan, as 'Node Type on table (detail)'."""
    found = []
    if plan.get("Relation Name") == table:
        kind = ("Parallel " if plan.get("Parallel Aware") else "") + plan["Node Type"]
        name = kind + (" using " + plan["Index Name"] if plan.get("Index Name") else "")
        for key in ("Filter", "Index Cond", "Recheck Cond"):
            if plan.get(key):
                name += f" ({key}: {plan[key]})"
                break
        found.append((plan["Node Type"], f"{name} on {table}"))
    for child in plan.get("Plans", []):
        found.extend(_scans(child, table))
    return found


def _leading_indexes(lab) -> dict[str, list[tuple[str, bool]]]:
    """For each filtered table, the indexes whose first column is the filter column: (name, valid)."""
    sql = (
        "SELECT coalesce(json_agg(json_build_array(t.relname, c.relname, i.indisvalid)), '[]') "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
        "JOIN pg_namespace n ON n.oid = t.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
        "WHERE n.nspname = 'public' AND ((t.relname = 'orders' AND a.attname = 'customer_id') OR (t.relname = 'order_items' AND a.attname = 'order_id'))"
    )
    found: dict[str, list[tuple[str, bool]]] = {"orders": [], "order_items": []}
    for table, index, valid in _json(lab, sql):
        found[table].append((index, valid))
    return found


def _plan_problem(lab) -> str | None:
    """EXPLAIN the app's queries in a session of the app's role: a problem, or None."""
    customer, order = _rng.randint(1, N_CUSTOMERS), _rng.randint(1, N_ORDERS)
    bad: dict[str, tuple[list[str], str]] = {}  # table -> (queries, how it is read)
    for label, (table, query) in APP_QUERIES.items():
        sql = "EXPLAIN (FORMAT JSON) " + query.format(customer=customer, order=order)
        try:
            plan = _json(lab, sql, as_app=True)[0]["Plan"]
        except DbError as err:
            return _db_problem(err, "the app's role shop_app")
        scans = _scans(plan, table)
        if not scans or any(kind not in INDEX_SCANS for kind, _ in scans):
            seen = "; ".join(text.replace(f" on {table}", "") for kind, text in scans if kind not in INDEX_SCANS) or "no scan"
            bad.setdefault(table, ([], f"{seen} on {table}"))[0].append(label)
    if not bad:
        return None
    seen = " and ".join(f"{how} for {', '.join(labels)}" for how, labels in ((how, labels) for labels, how in bad.values()))
    indexes = _leading_indexes(lab)
    where, unused = [], []
    for table in bad:
        column = FILTER_COLUMN[table]
        valid = [name for name, ok in indexes[table] if ok]
        invalid = [name for name, ok in indexes[table] if not ok]
        if invalid and not valid:
            where.append(f"{table} has only an INVALID index on {column} ({', '.join(invalid)}): a build that was cancelled or failed leaves one behind, unused")
        elif not valid:
            where.append(f"{table} has no index that starts with {column}, the column these queries look rows up by")
        else:
            unused.append(f"{table}({column}): {', '.join(valid)}")
    if unused:
        where.append(
            f"there {'is an index' if len(unused) == 1 else 'are indexes'} on {' and '.join(unused)} that the app's sessions do not use: "
            "compare the planner settings a shop_app session starts with to yours, and where they come from"
        )
    return f"as the app's role shop_app, EXPLAIN shows {seen} — {'; '.join(where)}"


# --- objectives --------------------------------------------------------------------------------

@pytest.fixture(scope="session", autouse=True)
def _fresh_run():
    """Each check run starts with no objective passed (the restart objective relies on it)."""
    _passed.clear()
    yield


def test_app_unmodified(lab):
    """statement-api runs unmodified (the fix belongs in the database)"""
    shipped = hashlib.sha256((lab.lab_dir / "images" / "statement-api" / "app.py").read_bytes()).hexdigest()
    running = lab.host("app").run("sha256sum /srv/app/app.py").stdout.split()[:1]
    assert running == [shipped], "the app's code in the app container differs from the image's — the incident is in the database, not the app (labs reset starts over)"
    _passed.add("app")


def test_data_intact(lab):
    """Every customer, order and order line is still there, unchanged"""
    parts = []
    for table in TABLES:
        ids = f"generate_series(1, {N_ORDERS})" if table != "customers" else ""
        parts.append(
            f"'{table}', (SELECT json_build_array({FINGERPRINT[table]}) FROM {table}), "
            f"'{table}_expected', (SELECT json_build_array({FINGERPRINT[table]}) FROM ({_gen(lab, table, ids)}) AS g)"
        )
    try:
        data = _json(lab, f"SELECT json_build_object({', '.join(parts)})")
    except DbError as err:
        problem = _db_problem(err)
        if "does not exist" in str(err):
            problem = f"the shop's tables are not all there ({err}) — the order history must stay complete (labs reset restores it, and the incident)"
        pytest.fail(problem)
    problems = []
    for table in TABLES:
        (count, *sums), (want_count, *want_sums) = data[table], data[f"{table}_expected"]
        if count != want_count:
            gone = want_count - count
            change = f"{gone:,} missing" if gone > 0 else f"{-gone:,} extra"
            problems.append(f"{table} has {count:,} rows where the shop's data has {want_count:,} ({change})")
        elif sums != want_sums:
            problems.append(f"{table} has all its {count:,} rows but their content differs from the shop's data (column sums)")
    assert not problems, "; ".join(problems) + " — deleting or rewriting rows is not a fix; the order history must stay complete and unchanged (labs reset restores it, and the incident)"
    _passed.add("data")


def test_no_forgotten_transaction(lab):
    """No forgotten transaction holds the shop's tables, and no session waits on a lock"""
    sql = (
        "SELECT json_build_object("
        "'idle', (SELECT coalesce(json_agg(x), '[]') FROM ("
        "  SELECT a.pid, a.usename, a.application_name, coalesce(host(a.client_addr), 'local socket') AS client,"
        "         extract(epoch FROM now() - a.xact_start)::int AS open_s, left(regexp_replace(a.query, '\\s+', ' ', 'g'), 120) AS query,"
        "         string_agg(DISTINCT l.mode || ' on ' || c.relname, ', ') AS locks"
        "  FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid AND l.granted JOIN pg_class c ON c.oid = l.relation"
        "  WHERE a.pid <> pg_backend_pid() AND a.state LIKE 'idle in transaction%' AND c.relname IN ('customers', 'orders', 'order_items')"
        "  GROUP BY a.pid, a.usename, a.application_name, a.client_addr, a.xact_start, a.query) AS x), "
        "'waiting', (SELECT coalesce(json_agg(y), '[]') FROM ("
        "  SELECT a.pid, a.usename, a.application_name, a.wait_event_type, a.wait_event, pg_blocking_pids(a.pid) AS blockers,"
        "         extract(epoch FROM now() - a.query_start)::int AS waiting_s, left(regexp_replace(a.query, '\\s+', ' ', 'g'), 120) AS query"
        "  FROM pg_stat_activity a WHERE a.pid <> pg_backend_pid() AND cardinality(pg_blocking_pids(a.pid)) > 0) AS y))"
    )
    try:
        data = _json(lab, sql)
    except DbError as err:
        pytest.fail(_db_problem(err))
    problems = [
        f"pid {s['pid']} (user {s['usename']}, {s['application_name'] or 'no application name'}, from {s['client']}) has been "
        f"idle in transaction for {s['open_s']} s holding {s['locks']}; its last statement: {s['query']!r}"
        for s in data["idle"]
    ]
    problems += [
        f"pid {s['pid']} (user {s['usename']}, {s['application_name'] or 'no application name'}) has waited {s['waiting_s']} s "
        f"({s['wait_event_type']}/{s['wait_event']}) running {s['query']!r}, blocked by pid {', '.join(map(str, s['blockers']))}"
        for s in data["waiting"]
    ]
    assert not problems, (
        "; ".join(problems)
        + " — a transaction left open keeps its locks (schema changes on those tables wait behind it) and holds back vacuum: look at pg_stat_activity and pg_locks in the shop database"
    )
    _passed.add("locks")


def test_plans_use_indexes(lab):
    """The app's queries are planned with an index, in the app's own sessions"""
    problem = _plan_problem(lab)
    assert problem is None, problem
    _passed.add("plans")


def test_statement_answers_correct(lab):
    """The statement endpoint still gives customers their right statement"""
    customers = _rng.sample(range(1, N_CUSTOMERS + 1), 2)
    try:
        expected = _expected_statements(lab, customers)
    except DbError as err:
        pytest.fail(_db_problem(err))
    for customer in customers:
        resp = lab.http("app", APP_PORT, _statement_path(customer), timeout=30)
        assert resp.status == 200, f"GET {_statement_path(customer)} got {resp.describe()} — look at the app's log (/var/log/statement-api/access.log) and at PostgreSQL"
        try:
            answer = _normalise(json.loads(resp.body))
        except (ValueError, TypeError, AttributeError):
            pytest.fail(f"GET {_statement_path(customer)} answered 200 but not with a statement ({resp.describe()})")
        diff = _first_difference(answer, expected[customer])
        assert diff is None, f"customer {customer}'s statement is wrong: {diff} — the answers must stay exactly what the full order history gives"
    _passed.add("answers")


def test_statement_fast(lab):
    """The statement endpoint answers within 100 ms at p95 (20 requests from outside)"""
    problem = _latency_problem(lab)
    assert problem is None, problem
    _passed.add("latency")


def test_survives_restart(lab):
    """The fix survives a restart of PostgreSQL"""
    pending = {"app", "data", "locks", "plans", "answers", "latency"} - _passed
    if pending:
        pytest.skip("not tried yet: PostgreSQL is restarted for this check only once every other objective passes (a restart would also end the sessions you may still be looking at)")
    lab.restart("db")
    problem = _wait_for_postgres(lab) or _plan_problem(lab) or _latency_problem(lab)
    assert problem is None, f"after restarting PostgreSQL: {problem} (a fix that lives only in running sessions or memory is lost on restart)"
