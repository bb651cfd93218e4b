"""Objectives for slow-postgres: the customer statement is fast again, correct, and stays so.

Each test is one objective the learner reads in `labs check`. Failure messages
say what the probe saw and where to look, never the command that fixes it.

Nothing here runs in the learner's containers. SQL goes through psql in a fresh
container of the shipped probe image, on the lab network, with
``search_path=pg_catalog`` and every table and catalog name qualified, so no
shim, shadow view or search_path trick answers for the database. The shop's
data is generated from the instance's seed (files/*.sql), so the checks
regenerate the expected rows and answers on their own; a fresh order inserted
by the check must show up in the API's answer, so a frozen copy or a
precomputed answer cannot pass. Latency is judged against a one-row lookup on
the same path measured in the same check, so a busy machine does not fail a
correct fix.
"""

import hashlib
import json
import random
import time
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

import pytest

from checks.latency import measure

APP_PORT = 8000  # the app's container port, published on 127.0.0.1
# Latency: a statement (23 queries) against a one-row lookup on the same path (1 query), the
# fastest of ROUNDS each. Fixed: a few times the lookup, even on a loaded machine. Broken: every
# query reads a whole table, hundreds of times the lookup. Under FLOOR_MS is always fast.
ROUNDS = 7
RATIO = 25
FLOOR_MS = 100
NO_SUCH_CUSTOMER = 999_999_999  # the lookup: one primary-key probe of customers, answered 404
N_CUSTOMERS = 40_000
N_ORDERS = 1_200_000
TABLES = ("customers", "orders", "order_items")
NOT_REVENUE = ("cancelled", "refunded")

# The app's own statements (images/statement-api/app.py in this lab), on the real tables.
APP_QUERIES = {
    "customer summary": (
        "orders",
        "SELECT count(*), coalesce(sum(total_cents) FILTER (WHERE status NOT IN ('cancelled', 'refunded')), 0), max(placed_at) "
        "FROM public.orders WHERE customer_id = {customer}",
    ),
    "spend per year": (
        "orders",
        "SELECT extract(year FROM placed_at)::int AS year, count(*), "
        "coalesce(sum(total_cents) FILTER (WHERE status NOT IN ('cancelled', 'refunded')), 0) "
        "FROM public.orders WHERE customer_id = {customer} GROUP BY 1 ORDER BY 1",
    ),
    "recent orders": (
        "orders",
        "SELECT id, placed_at, status, channel, total_cents FROM public.orders WHERE customer_id = {customer} ORDER BY placed_at DESC LIMIT 20",
    ),
    "order lines": (
        "order_items",
        "SELECT line_no, sku, quantity, unit_price_cents FROM public.order_items WHERE order_id = {order} ORDER BY line_no",
    ),
}
FILTER_COLUMN = {"orders": "customer_id", "order_items": "order_id"}
INDEX_SCANS = {"Index Scan", "Index Only Scan", "Bitmap Heap Scan"}
TRACE_BASE = 9_000_000  # ids of the orders the check inserts (the shop's end at 1,200,000)

# Fingerprints of each table's content (row count and sums over every column), computed the
# same way over the table and over the generator. Cheap enough to run on every check. The status
# of the order in the forgotten refund ({stuck}) is left out: refunded or not, both are right.
FINGERPRINT = {
    "customers": "count(*), sum(hashtext(concat_ws('|', id, name, email, country, extract(epoch FROM created_at)::bigint)))",
    "orders": (
        "count(*), sum(id * 3 + customer_id), sum(extract(epoch FROM placed_at)::bigint), sum(total_cents), "
        "sum(hashtext(CASE WHEN id = {stuck} THEN '' ELSE status END || channel || currency || shipping_country))"
    ),
    "order_items": "count(*), sum(order_id * 5 + line_no + id), sum(quantity * unit_price_cents + unit_price_cents), sum(hashtext(sku))",
}

_rng = random.SystemRandom()
_passed: set[str] = set()  # objectives that passed in this run (the restart objective waits for them)


# --- talking to PostgreSQL, from a pristine probe -----------------------------------------------

class DbError(Exception):
    pass


_SEPARATOR = "--labs-query-done--"


def _psql(lab, queries: list[str], *, as_app: bool = False, seconds: int = 25) -> list[str]:
    """Run each SQL command with psql from a fresh probe container on the lab network; their
    outputs, or DbError saying why not.

    As the app: with the app's role and password, so the role's and the database's settings
    apply as they do to the app. Otherwise: as the postgres superuser (its password is a lab
    value). search_path is pg_catalog alone and every name is qualified, so nothing the learner
    creates in a schema can stand in for a table or a catalog view. Lock waits and runaway
    statements are cut short (``seconds``) so a check never hangs on a lock.
    """
    env = {
        "PGHOST": "db",
        "PGPORT": "5432",
        "PGDATABASE": "shop",
        "PGUSER": "shop_app" if as_app else "postgres",
        "PGPASSWORD": lab.values["db_password"] if as_app else lab.values["admin_password"],
        "PGAPPNAME": "labs-check",
        "PGCONNECT_TIMEOUT": "5",
        "PGSSLMODE": "disable",
        "PGOPTIONS": f"-c search_path=pg_catalog -c lock_timeout=5s -c statement_timeout={seconds}s",
    }
    script = []
    for n, query in enumerate(queries):
        env[f"LABS_Q{n}"] = query
        script.append(f'psql -X -q -At -v ON_ERROR_STOP=1 -c "$LABS_Q{n}" 2>&1; echo "{_SEPARATOR}$?"')
    result = lab.probe(["sh", "-c", "\n".join(script)], image="probe", env=env, timeout=(seconds + 5) * len(queries) + 15)
    if result.timed_out:
        raise DbError("psql did not finish in time (is PostgreSQL answering?)")
    outputs, parts = [], result.stdout.split(_SEPARATOR)
    for part, after in zip(parts, parts[1:]):
        code = after.split("\n", 1)[0].strip()
        text = part.split("\n", 1)[1] if outputs and "\n" in part else part
        if code != "0":
            said = " ".join(text.split())[:300] or f"exit code {code}"
            raise DbError(said)
        outputs.append(text.strip())
    if len(outputs) != len(queries):
        raise DbError(" ".join(result.output.split())[:300] or f"the probe exited {result.exit_code}")
    return outputs


def _json(lab, sql: str, *, as_app: bool = False, seconds: int = 25):
    out = _psql(lab, [sql], as_app=as_app, seconds=seconds)[0]
    try:
        return json.loads(out)
    except ValueError:
        raise DbError(f"unexpected output {out[:200]!r}") from None


def _db_problem(err: DbError, who: str = "the postgres superuser") -> str:
    text = str(err)
    if "lock timeout" in text:
        return f"a query as {who} waited more than 5 s for a lock ({text}) — something holds or queues for an exclusive lock on the shop's tables: look at pg_stat_activity and pg_locks"
    if "password authentication failed" in text:
        return f"PostgreSQL refused the login of {who} over the network ({text}) — the checks log in with the passwords the lab set up (labs reset restores them)"
    if "could not connect" in text or "Connection refused" in text or "could not translate host name" in text or "timeout expired" in text:
        return f"PostgreSQL in the db container does not accept connections on db:5432 as {who} (psql said: {text}) — is the server running? Look at /var/log/postgresql/ in the db container"
    return f"psql as {who} failed: {text}"


@cache
def _generator(lab_dir: Path, name: str, seed: str, ids: str = "") -> str:
    """The generator query that break.py loaded ``name`` from, for this instance's seed."""
    if not seed.isalnum():
        raise ValueError("unexpected seed")
    text = (Path(lab_dir) / "files" / f"{name}.sql").read_text(encoding="utf-8")
    return text.replace("__SEED__", f"hashtext('{seed}')::bigint").replace("__IDS__", ids)


def _gen(lab, name: str, ids: str = "") -> str:
    return _generator(lab.lab_dir, name, lab.values["seed"], ids)


def _stuck_order(lab) -> int:
    """The order of the forgotten refund (break.py derives it from the same values)."""
    digest = hashlib.sha256(f"{lab.values['nonce']}:{lab.values['seed']}".encode()).hexdigest()
    return 1_100_000 + int(digest[24:32], 16) % 90_000


def _wait_for_postgres(lab, seconds: float = 30) -> str | None:
    """After a restart: wait until the server answers over the network; a problem, or None."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            _psql(lab, ["SELECT 1"])
            return None
        except DbError as err:
            if time.monotonic() > deadline:
                return f"PostgreSQL did not accept connections within {seconds:g} s of the restart: {_db_problem(err)}"
        time.sleep(1)


# --- what the data set says --------------------------------------------------------------------

def _epoch(text: str | None) -> int | None:
    if text is None:
        return None
    return int(datetime.fromisoformat(text).timestamp())


def _expected_statements(lab, customers: list[int], traced: dict | None = None) -> dict[int, dict]:
    """Regenerate these customers' orders and lines from the seed and build the statements they
    must get, with ``traced`` (an order the check inserted just now) among them. The forgotten
    refund counts as refunded if it was redone, as it was otherwise."""
    ids = ",".join(str(c) for c in customers)
    stuck = _stuck_order(lab)
    every_order = f"generate_series(1, {N_ORDERS})"
    sql = (
        "WITH sel AS MATERIALIZED ("
        "SELECT id, customer_id, extract(epoch FROM placed_at)::bigint AS placed_at, status, channel, total_cents "
        f"FROM ({_gen(lab, 'orders', every_order)}) AS g WHERE customer_id IN ({ids})) "
        "SELECT json_build_object("
        "'orders', (SELECT coalesce(json_agg(sel), '[]') FROM sel), "
        f"'lines', (SELECT coalesce(json_agg(i), '[]') FROM ({_gen(lab, 'order_items', 'unnest(ARRAY(SELECT id FROM sel))')}) AS i), "
        f"'customers', (SELECT coalesce(json_agg(c), '[]') FROM ({_gen(lab, 'customers')}) AS c WHERE c.id IN ({ids})), "
        f"'refund', (SELECT status FROM public.orders WHERE id = {stuck}))"
    )
    data = _json(lab, sql, seconds=60)
    for order in data["orders"]:
        if order["id"] == stuck and data["refund"] == "refunded":
            order["status"] = "refunded"
    if traced:
        data["orders"].append(traced)
        data["lines"].extend(traced["lines"])
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

def _statement_path(customer) -> str:
    return f"/api/customers/{customer}/statement"


def _latency_problem(lab) -> str | None:
    """Statements against one-row lookups on the same path, from outside: a problem, or None.

    The baseline is a lookup of a customer that does not exist (one primary-key probe through
    the same app and connection set-up), timed alternately with the statements, so load slows
    both. A fixed database answers a statement within a few lookups' time however busy the
    machine is; a broken one needs hundreds of them."""
    timing = measure(
        lambda: lab.http("app", APP_PORT, _statement_path(_rng.randint(1, N_CUSTOMERS)), timeout=30),
        baseline=lambda: lab.http("app", APP_PORT, _statement_path(NO_SUCH_CUSTOMER), timeout=30).status == 404,
        repeat=ROUNDS,
        budget=20,
    )
    if not timing.ok:
        return (
            f"no statement request came back with a statement within 30 s ({timing.describe()}) — the statement endpoint must answer "
            "before it can be fast; look at the app's log (/var/log/statement-api/access.log) and at what PostgreSQL is doing"
        )
    if not timing.baseline:
        return f"GET {_statement_path(NO_SUCH_CUSTOMER)} (a customer that does not exist) never answered 404 — look at the app's log and at PostgreSQL"
    if timing.slow(ratio=RATIO, floor=FLOOR_MS / 1000):
        return (
            f"the statement endpoint is slow: {timing.describe()}, where the baseline is a one-row lookup through the same app and database "
            f"(a healthy statement takes a few lookups' time, never {RATIO}) — find where PostgreSQL spends that time on the app's queries"
        )
    return None


def _scans(plan: dict, table: str) -> list[tuple[str, str]]:
    """Every scan of public.``table`` in an EXPLAIN (FORMAT JSON) plan: (node type, description)."""
    found = []
    if plan.get("Relation Name") == table and plan.get("Schema", "public") == "public":
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
        "FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid JOIN pg_catalog.pg_class t ON t.oid = i.indrelid "
        "JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace "
        "JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
        "WHERE n.nspname = 'public' AND ((t.relname = 'orders' AND a.attname = 'customer_id') OR (t.relname = 'order_items' AND a.attname = 'order_id'))"
    )
    found: dict[str, list[tuple[str, bool]]] = {"orders": [], "order_items": []}
    for table, index, valid in _json(lab, sql):
        found[table].append((index, valid))
    return found


# Planner methods switched off anywhere a session of the shop can inherit them from: the app's
# own session (server config, ALTER SYSTEM, database, role), and every role's and database's
# stored settings (the nightly export and the support staff connect too).
FORCED_OFF = (
    "SELECT json_build_object("
    "'session', (SELECT coalesce(json_agg(json_build_array(name, source)), '[]') FROM pg_catalog.pg_settings "
    "  WHERE name LIKE 'enable%' AND setting = 'off' AND source <> 'default'), "
    "'stored', (SELECT coalesce(json_agg(json_build_array(coalesce(r.rolname, ''), coalesce(d.datname, ''), c.setting)), '[]') "
    "  FROM pg_catalog.pg_db_role_setting s LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole "
    "  LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS c(setting) "
    "  WHERE c.setting ILIKE 'enable%=off' OR c.setting ILIKE 'enable%=false' OR c.setting ILIKE 'enable%=0'))"
)
SOURCES = {"user": "the role's settings", "database": "the database's settings", "database user": "the role's settings in this database", "configuration file": "the server's configuration"}


def _forced_off_problem(lab) -> str | None:
    """Planner methods switched off for the app's sessions or stored on any role or database."""
    data = _json(lab, FORCED_OFF, as_app=True)
    seen = [f"{name} is off in the app's sessions (from {SOURCES.get(source, source)})" for name, source in data["session"]]
    for role, database, setting in data["stored"]:
        where = " and ".join(filter(None, [f"role {role}" if role else "", f"database {database}" if database else ""])) or "every role"
        entry = f"{setting.split('=')[0]} is stored off for {where}"
        if not any(entry.split(" is ")[0] in s and where in s for s in seen):
            seen.append(entry)
    if not seen:
        return None
    return (
        f"planner methods are switched off: {'; '.join(seen)} — the indexes must win on their own merits; with a method forced off, "
        "every other query of the shop gets worse plans (pg_settings shows where a setting comes from, pg_db_role_setting what roles and databases carry)"
    )


def _plan_problem(lab) -> str | None:
    """EXPLAIN the app's queries on the real tables in a session of the app's role: a problem, or None."""
    customer, order = _rng.randint(1, N_CUSTOMERS), _rng.randint(1, N_ORDERS)
    bad: dict[str, tuple[list[str], str]] = {}  # table -> (queries, how it is read)
    labels = list(APP_QUERIES)
    try:
        plans = _psql(lab, ["EXPLAIN (FORMAT JSON, VERBOSE) " + table_query[1].format(customer=customer, order=order) for table_query in APP_QUERIES.values()], as_app=True)
    except DbError as err:
        return _db_problem(err, "the app's role shop_app")
    for label, (table, _), out in zip(labels, APP_QUERIES.values(), plans):
        plan = json.loads(out)[0]["Plan"]
        scans = _scans(plan, table)
        if not scans or any(kind not in INDEX_SCANS for kind, _ in scans):
            seen = "; ".join(text.replace(f" on {table}", "") for kind, text in scans if kind not in INDEX_SCANS) or "no scan"
            bad.setdefault(table, ([], f"{seen} on {table}"))[0].append(label)
    if not bad:
        return _forced_off_problem(lab)
    seen = " and ".join(f"{how} for {', '.join(labels)}" for labels, how in bad.values())
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
    return f"as the app's role shop_app, EXPLAIN of the queries on the shop's tables (schema public) shows {seen} — {'; '.join(where)}"


def _trace_order(lab, customer: int) -> dict:
    """An order (and one line) for ``customer`` that nobody could know in advance, newer than any other."""
    order_id = TRACE_BASE + _rng.randint(0, 999_999)
    placed = 1_893_456_000 + _rng.randint(0, 86_400 * 300)  # in 2030
    sku = "T-" + lab.trace_id()[-12:]
    return {
        "id": order_id, "customer_id": customer, "placed_at": placed, "status": "processing", "channel": "phone",
        "total_cents": _rng.randint(1000, 99_999),
        "lines": [{"order_id": order_id, "line_no": 1, "sku": sku, "quantity": 2, "unit_price_cents": _rng.randint(100, 9_999)}],
    }


def _compare_answers(lab, customers: list[int], expected: dict[int, dict], traced_id: int) -> str | None:
    for customer in customers:
        resp = lab.http("app", APP_PORT, _statement_path(customer), timeout=30)
        if resp.status != 200:
            return f"GET {_statement_path(customer)} got {resp.describe()} — look at the app's log (/var/log/statement-api/access.log) and at PostgreSQL"
        try:
            answer = _normalise(json.loads(resp.body))
        except (ValueError, TypeError, AttributeError):
            return f"GET {_statement_path(customer)} answered 200 but not with a statement ({resp.describe()})"
        if customer == customers[0] and traced_id not in [o.get("id") for o in answer.get("recent_orders") or []]:
            return (
                f"customer {customer}'s statement does not show the order the check placed for them in the shop's orders table just before asking "
                "(the newest order, it must come first): the statement must be read from the shop's live tables, not from a copy or a cache"
            )
        diff = _first_difference(answer, expected[customer])
        if diff:
            return f"customer {customer}'s statement is wrong: {diff} — the answers must stay exactly what the full order history gives"
    return None


def _answers_problem(lab) -> str | None:
    """Two customers' statements, one with an order inserted into the real tables just now: a problem, or None."""
    customers = _rng.sample(range(1, N_CUSTOMERS + 1), 2)
    traced = _trace_order(lab, customers[0])
    line = traced["lines"][0]
    insert = (
        "WITH o AS (INSERT INTO public.orders (id, customer_id, placed_at, status, channel, currency, total_cents, shipping_country) "
        f"VALUES ({traced['id']}, {customers[0]}, pg_catalog.to_timestamp({traced['placed_at']}), '{traced['status']}', '{traced['channel']}', 'EUR', {traced['total_cents']}, 'DE') RETURNING id) "
        "INSERT INTO public.order_items (id, order_id, line_no, sku, quantity, unit_price_cents) "
        f"SELECT id * 4 + 1, id, 1, '{line['sku']}', {line['quantity']}, {line['unit_price_cents']} FROM o"
    )
    remove = f"WITH i AS (DELETE FROM public.order_items WHERE order_id = {traced['id']}) DELETE FROM public.orders WHERE id = {traced['id']}"
    try:
        expected = _expected_statements(lab, customers, traced)
        _psql(lab, [insert])
    except DbError as err:
        return _db_problem(err)
    try:
        return _compare_answers(lab, customers, expected, traced["id"])
    finally:
        try:
            _psql(lab, [remove])
        except DbError:
            pass  # the next check's data objective says so if it stayed


# --- objectives --------------------------------------------------------------------------------

@pytest.fixture(scope="session", autouse=True)
def _fresh_run():
    """Each check run starts with no objective passed (the restart objective relies on it)."""
    _passed.clear()
    yield


def test_app_unmodified(lab):
    """statement-api runs as shipped: its code and its runtime (the fix belongs in the database)"""
    problems = lab.integrity("app") + lab.integrity("app", ["/srv/app"])
    assert not problems, (
        f"the app container differs from the statement-api image: {'; '.join(problems[:3])}"
        f"{f' (and {len(problems) - 3} more)' if len(problems) > 3 else ''} — the incident is in the database, not the app (labs reset starts over)"
    )
    _passed.add("app")


def test_data_intact(lab):
    """Every customer, order and order line is still there, unchanged"""
    stuck = _stuck_order(lab)
    parts = []
    for table in TABLES:
        ids = f"generate_series(1, {N_ORDERS})" if table != "customers" else ""
        fingerprint = FINGERPRINT[table].format(stuck=stuck)
        parts.append(
            f"'{table}', (SELECT json_build_array({fingerprint}) FROM public.{table}), "
            f"'{table}_expected', (SELECT json_build_array({fingerprint}) FROM ({_gen(lab, table, ids)}) AS g)"
        )
    parts.append(f"'refund', json_build_array((SELECT status FROM public.orders WHERE id = {stuck}), (SELECT status FROM ({_gen(lab, 'orders', f'generate_series({stuck}, {stuck})')}) AS g))")
    try:
        data = _json(lab, f"SELECT json_build_object({', '.join(parts)})", seconds=300)  # 3.6 M rows twice: minutes on a busy machine
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
    status, original = data["refund"]
    if status is not None and status not in (original, "refunded"):
        problems.append(f"order {stuck} has status {status!r}: it was {original!r}, or 'refunded' once its refund is done")
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
        "  FROM pg_catalog.pg_stat_activity a JOIN pg_catalog.pg_locks l ON l.pid = a.pid AND l.granted"
        "  JOIN pg_catalog.pg_class c ON c.oid = l.relation JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        "  WHERE a.pid <> pg_backend_pid() AND a.state LIKE 'idle in transaction%' AND n.nspname = 'public' AND c.relname IN ('customers', 'orders', 'order_items')"
        "  GROUP BY a.pid, a.usename, a.application_name, a.client_addr, a.xact_start, a.query) AS x), "
        "'waiting', (SELECT coalesce(json_agg(y), '[]') FROM ("
        "  SELECT a.pid, a.usename, a.application_name, a.wait_event_type, a.wait_event, pg_blocking_pids(a.pid) AS blockers,"
        "         extract(epoch FROM now() - a.query_start)::int AS waiting_s, left(regexp_replace(a.query, '\\s+', ' ', 'g'), 120) AS query"
        "  FROM pg_catalog.pg_stat_activity a WHERE a.pid <> pg_backend_pid() AND cardinality(pg_blocking_pids(a.pid)) > 0) AS y))"
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
    """The app's queries on the shop's tables are planned with an index in the app's own sessions, no planner method forced off"""
    try:
        problem = _plan_problem(lab)
    except DbError as err:
        problem = _db_problem(err, "the app's role shop_app")
    assert problem is None, problem
    _passed.add("plans")


def test_statement_answers_correct(lab):
    """The statement endpoint gives customers their right statement, from the shop's live tables"""
    problem = _answers_problem(lab)
    assert problem is None, problem
    _passed.add("answers")


def test_statement_fast(lab):
    """The statement endpoint is fast again: a statement takes a few one-row lookups' time, not hundreds"""
    problem = _latency_problem(lab)
    assert problem is None, problem
    _passed.add("latency")


def test_survives_restart(lab):
    """The fix survives a restart of every service"""
    pending = {"app", "data", "locks", "plans", "answers", "latency"} - _passed
    if pending:
        pytest.skip("not tried yet: every service is restarted for this check only once every other objective passes (a restart would also end the sessions you may still be looking at)")
    lab.restart_all()
    problem = _wait_for_postgres(lab)
    assert problem is None, f"after restarting every service: {problem}"
    try:
        problem = _plan_problem(lab)
    except DbError as err:
        problem = _db_problem(err, "the app's role shop_app")
    assert problem is None, f"after restarting every service: {problem} (a fix that lives only in running sessions or memory is lost on restart)"
    problem = _answers_problem(lab) or _latency_problem(lab)
    assert problem is None, f"after restarting every service: {problem}"
