"""Objectives for dns-resolution: the orders app records orders in its database, reached
by name, resolved the way the platform team asks, for good.

Nothing runs in the learner's containers. The database's real address comes from the
engine's own DNS in a pristine probe; the company DNS server is asked by a pristine dig;
the app host's resolution is replayed by a pristine copy of the app's image given the
app's /etc/hosts and /etc/resolv.conf (so glibc resolves exactly as the app does); and
an order posted with a fresh trace id must come back with a new row that a pristine psql
then finds in the database.
"""

import json
import re

DB_NAMES = ("orders-db", "orders-db.prod.corp.internal")
REGISTRY_NAME = "db-primary.prod.corp.internal"
_PIN = re.compile(r"(?m)^\s*[0-9a-fA-F.:]+\s+.*\b(orders-db|db-primary)\b")

_RESOLVE = f"""
echo "db=$(getent ahostsv4 db | awk 'NR==1 {{print $1}}')"
for i in $(seq 20); do  # after a restart dnsmasq may need a moment
    answer=$(dig +time=1 +tries=1 +noall +answer @ns orders-db.prod.corp.internal A) && [ -n "$answer" ] && break
    sleep 0.5
done
echo "dig=$(echo "$answer" | awk '{{print $4"="$5}}' | tr '\\n' ' ')"
cat /probe/hosts > /etc/hosts && cat /probe/resolv.conf > /etc/resolv.conf || exit 3
for name in {' '.join(DB_NAMES)}; do echo "$name=$(getent ahostsv4 $name | awk 'NR==1 {{print $1}}')"; done
"""


def _resolution(lab) -> dict[str, str]:
    """db (the real address), dig (the DNS server's answer), and each name as the app host resolves it."""
    result = lab.probe(["sh", "-c", _RESOLVE], service="app", copy={"/probe/hosts": "app:/etc/hosts", "/probe/resolv.conf": "app:/etc/resolv.conf"}, timeout=30)
    seen = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    if result.exit_code != 0 or not seen.get("db"):
        raise AssertionError(f"the resolution probe failed ({result.output.strip()[:200]}) — is the db container running?")
    return seen


def _dns_problem(seen: dict[str, str]) -> str | None:
    answer = seen.get("dig", "").split()
    if not answer:
        return "the company DNS server (ns) gave no answer for orders-db.prod.corp.internal — is dnsmasq running on ns (`labs logs dns-resolution ns`), and does it know the name?"
    aliases = [item.split("=", 1)[1] for item in answer if item.startswith("CNAME=")]
    addresses = [item.split("=", 1)[1] for item in answer if item.startswith("A=")]
    if REGISTRY_NAME + "." not in aliases:
        return f"ns answers orders-db.prod.corp.internal with {' '.join(answer)}: not an alias of {REGISTRY_NAME}, so it will not follow the primary — look at the records in /etc/dnsmasq.d/ on ns"
    if addresses != [seen["db"]]:
        return f"ns answers orders-db.prod.corp.internal with {' '.join(answer)}, but the primary is at {seen['db']} now — look at how {REGISTRY_NAME} gets its address on ns"
    return None


def _host_problem(lab, seen: dict[str, str]) -> str | None:
    wrong = [f"{name} -> {seen.get(name) or 'nothing'}" for name in DB_NAMES if seen.get(name) != seen["db"]]
    if wrong:
        return f"on the app host, {', '.join(wrong)}, but the primary is at {seen['db']} — follow each name through /etc/hosts, the search list in /etc/resolv.conf and the DNS server, in the order glibc does"
    for path in ("/etc/hosts", "/etc/hosts.local"):
        found = lab.read_file("app", path)
        match = _PIN.search(found.content.decode("utf-8", "replace")) if found and found.content else None
        if match:
            return f"{path} on app pins {match[1]} to a fixed address ({match[0].strip()[:80]}): it must come from DNS, since it moves on failover"
    return None


def _order_problem(lab) -> str | None:
    trace = lab.trace_id()
    script = (
        f'curl -sS --max-time 20 -X POST -H "X-Trace-Id: {trace}" http://app:8000/orders; echo; '
        f"psql -h db -U orders_app -d orders -XAt -c \"SELECT id FROM orders WHERE trace = '{trace}'\""
    )
    result = lab.probe(["sh", "-c", script], image="probe", env={"PGPASSWORD": lab.values["db_password"], "PGCONNECT_TIMEOUT": "5"}, timeout=45)
    lines = result.stdout.splitlines()
    try:
        answer = json.loads(lines[0]) if lines else {}
    except ValueError:
        answer = {}
    if not isinstance(answer, dict) or "id" not in answer:
        said = answer.get("error") if isinstance(answer, dict) and answer.get("error") else (result.output.strip()[:200] or "nothing")
        return f"POST /orders on app:8000 did not record an order: {said[:240]} — follow the name the app connects to"
    if answer.get("trace") != trace or answer.get("instance") != lab.nonce:
        return "POST /orders answered, but not with this instance's order for the probe's trace id — the answer must come from the real orders app"
    if str(answer["id"]) not in lines[1:]:
        return f"the app said it recorded order {answer['id']}, but the orders database has no order with the probe's trace id — the app must write to the real primary"
    return None


def test_code_and_tools_unmodified(lab):
    """The orders app, the DNS server's tools and the service registry are as shipped"""
    problems = lab.integrity("app", ["/srv/app"]) + lab.integrity("app") + lab.integrity("ns")
    assert not problems, f"{problems[0]} — the fix belongs in configuration (labs reset starts over)"


def test_dns_server_aliases_primary(lab):
    """The company DNS server answers orders-db.prod.corp.internal as an alias of the registry's primary"""
    problem = _dns_problem(_resolution(lab))
    assert problem is None, problem


def test_app_host_resolves_from_dns(lab):
    """On the app host, orders-db and orders-db.prod.corp.internal resolve to the primary, from DNS"""
    problem = _host_problem(lab, _resolution(lab))
    assert problem is None, problem


def test_orders_recorded(lab):
    """An order posted to the app is recorded in the orders database"""
    problem = _order_problem(lab)
    assert problem is None, problem


def test_survives_restart(lab):
    """Everything still works after every container restarts"""
    lab.restart_all()
    seen = _resolution(lab)
    problem = _dns_problem(seen) or _host_problem(lab, seen) or _order_problem(lab)
    assert problem is None, f"after restarting every container: {problem} (on app, /etc/hosts and /etc/resolv.conf are rebuilt at boot; a fix made only there, or only in a running process, is lost)"
