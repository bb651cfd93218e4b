"""Objectives for backup-and-restore (a build lab): each test is one objective of `labs check`.

Nothing is taken on the learner's word. The check writes a fresh order as the superuser (from a
pristine probe over 127.0.0.1), plants stale dumps, and waits for the schedule to produce a new
dump on its own; /backups is read through the engine; the latest dump is copied out through the
engine and restored into a scratch database with pristine pg_restore/psql from the lab's image;
then every service restarts and the schedule must produce yet another dump.
"""

import calendar
import re
import time

import pytest

BACKUPS = "/backups"
NAME = re.compile(r"^shop-\d{8}-\d{6}\.dump$")
KEEP = 3
PLANTED = [f"shop-2020010{day}-000000.dump" for day in range(1, 5)]
_RUNS: dict[str, dict] = {}  # one scheduled run per check session and instance


def _dumps(lab) -> dict[str, int]:
    """Dump files in /backups named as the runbook expects: name -> size."""
    entries = lab.walk("db", BACKUPS)
    return {e.path.rsplit("/", 1)[-1]: e.size for e in entries if e.kind == "file" and NAME.match(e.path.rsplit("/", 1)[-1])}


def _psql(lab, sql: str, database: str = "shop"):
    return lab.probe(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-Atc", sql],
                     image="pgbox", join="db", env={"PGPASSWORD": lab.values["pg_password"]})


def _started(name: str) -> int:
    """When a dump's run started, from its name (UTC, as the runbook requires)."""
    return calendar.timegm(time.strptime(name[5:20], "%Y%m%d-%H%M%S"))


def _new_dump(lab, since: float, what: str, seconds: float) -> str | None:
    """Wait for a finished dump whose run started after ``since`` (so its snapshot is later than
    anything the check did before); its name or None."""
    def finished():
        now = _dumps(lab)
        fresh = sorted(name for name in now if _started(name) > since and now[name] > 0)
        if not fresh:
            return None
        time.sleep(1.0)
        again = _dumps(lab)
        return fresh[-1] if again.get(fresh[-1]) == now[fresh[-1]] else None
    return lab.wait_for(finished, what=what, seconds=seconds)


def _scheduled_run(lab) -> dict:
    """Plant stale dumps, write a fresh order, and wait for the schedule's next dump (once)."""
    if lab.nonce in _RUNS:
        return _RUNS[lab.nonce]
    run: dict = {"trace": lab.trace_id(), "dump": None, "problem": None}
    _RUNS[lab.nonce] = run
    inserted = _psql(lab, f"INSERT INTO orders (customer_id, item, cents) VALUES (1, '{run['trace']}', 4200)")
    if inserted.exit_code != 0:
        run["problem"] = (f"the check could not write a new order into shop as the superuser over 127.0.0.1 "
                          f"({(inserted.stderr or inserted.stdout).strip()[-200:]}) — is PostgreSQL up, and its password and pg_hba.conf as the ticket found them?")
        return run
    planted = lab.host("db", deadline=30).run(
        "for d in 1 2 3 4; do f=/backups/shop-2020010$d-000000.dump; printf 'stale dump\\n' > $f;"
        " chown postgres:postgres $f; touch -d 2020-01-0$d $f; done")
    if planted.rc != 0:
        run["problem"] = f"the check could not place its stale dumps in {BACKUPS}: {(planted.stderr or planted.stdout).strip()[-200:]}"
        return run
    written = time.time()  # after the order is committed and the stale dumps are in place
    run["dump"] = _new_dump(lab, written, "waiting for the next scheduled dump", 72)
    if run["dump"] is None:
        run["problem"] = (f"no new shop-YYYYmmdd-HHMMSS.dump appeared in {BACKUPS} within 72 s of the check's new order — "
                          "is the job scheduled every minute, and does cron accept its entry? (look at cron's log and the job's own output)")
    return run


@pytest.mark.stage("schedule")
@pytest.mark.budget(75)
def test_dumps_appear_on_schedule(lab):
    """A new dump of the shop lands in /backups on schedule, without anyone running it"""
    run = _scheduled_run(lab)
    assert run["problem"] is None, run["problem"]


@pytest.mark.stage("retention")
def test_only_the_newest_dumps_are_kept(lab):
    """After a scheduled run, at most the three newest dumps are kept and older ones are removed"""
    run = _scheduled_run(lab)
    assert run["dump"], f"no scheduled dump to judge retention by: {run['problem']}"
    def pruned():
        now = _dumps(lab)
        return now if len(now) <= KEEP and PLANTED[0] not in now else None
    kept = lab.wait_for(pruned, what="waiting for old dumps to be pruned", seconds=10, every=0.5)
    now = _dumps(lab)
    assert kept, (f"after the scheduled run {BACKUPS} holds {len(now)} dumps ({', '.join(sorted(now))}); "
                  f"the check had placed {len(PLANTED)} old ones (dated 2020) and at most {KEEP}, the newest, may remain — older dumps are never removed")
    assert run["dump"] in kept, f"the new dump {run['dump']} was removed again: retention must keep the newest"
    older = [name for name in PLANTED if name in kept]
    newer_gone = [name for name in PLANTED if name not in kept and older and name > older[0]]
    assert not newer_gone, f"retention removed {newer_gone[0]} but kept the older {older[0]}: keep the newest dumps, remove the oldest"


RESTORE = r"""
set -u
f="/restore/$DUMP"
db="restore_check_$$"
export PGHOST=127.0.0.1 PGUSER=postgres
psql -q -d postgres -c "CREATE DATABASE $db" || exit 10
trap 'psql -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null' EXIT
if [ "$(head -c 5 "$f")" = PGDMP ]; then
    pg_restore --no-owner --exit-on-error -d "$db" "$f" || exit 11
else
    if gzip -t "$f" 2>/dev/null; then gunzip -c "$f" > /tmp/dump.sql || exit 12; else cp "$f" /tmp/dump.sql; fi
    if grep -q '^\\connect' /tmp/dump.sql; then echo "the dump connects to a database of its own (made with --create)" >&2; exit 13; fi
    psql -q -v ON_ERROR_STOP=1 -d "$db" -f /tmp/dump.sql >/dev/null || exit 14
fi
psql -At -d "$db" -c "SELECT 'orders ' || count(*) FILTER (WHERE item = '$TRACE') || ' ' || count(*) FROM orders" || exit 15
psql -At -d "$db" -c "SELECT 'customers ' || count(*) FILTER (WHERE email = '$TOKEN@example.test') || ' ' || count(*) FROM customers" || exit 15
"""


@pytest.mark.stage("restore")
def test_latest_dump_restores_the_shop(lab):
    """The newest dump restores into an empty database with the shop's tables and its latest orders"""
    run = _scheduled_run(lab)
    assert run["dump"], f"no scheduled dump to restore: {run['problem']}"
    problems = lab.integrity("db")
    assert not problems, f"the database server's own programs were changed: {problems[0]}"
    dumps = sorted(_dumps(lab))
    assert dumps, f"{BACKUPS} holds no shop-*.dump any more"
    latest = dumps[-1]
    result = lab.probe(["sh", "-c", RESTORE], image="pgbox", join="db", copy={"/restore": f"db:{BACKUPS}"},
                       env={"PGPASSWORD": lab.values["pg_password"], "DUMP": latest, "TRACE": run["trace"], "TOKEN": lab.values["token"]},
                       timeout=60)
    said = (result.stderr or result.stdout).strip()[-300:]
    assert result.exit_code == 0, (f"restoring {BACKUPS}/{latest} into a scratch database with pristine pg_restore/psql failed "
                                   f"(exit {result.exit_code}): {said or '(no output)'} — is it a pg_dump of the shop database in a format the runbook restores?")
    counts = dict(line.split(" ", 1) for line in result.stdout.split("\n") if line.startswith(("orders ", "customers ")))
    orders = counts.get("orders", "0 0").split()
    customers = counts.get("customers", "0 0").split()
    assert customers[0] == "1", (f"the restored customers table has {customers[1]} rows but not this shop's own customer — "
                                 f"is {latest} a dump of the shop database, data included?")
    assert orders[0] == "1", (f"the restored orders table has {orders[1]} rows but not the order the check wrote before the scheduled run — "
                              f"is {latest} a fresh dump of the shop database, data included?")


@pytest.mark.stage("persist")
@pytest.mark.budget(75)
def test_schedule_survives_restart(lab):
    """After every service restarts, the schedule still produces new dumps"""
    run = _scheduled_run(lab)
    assert run["dump"], f"nothing is scheduled yet, so there is nothing to keep: {run['problem']}"
    restarted = time.time()
    lab.restart_all()
    dump = _new_dump(lab, restarted, "waiting for a scheduled dump after the restart", 65)
    assert dump, (f"after the restart no new dump appeared in {BACKUPS} within 65 s — a job started by hand dies with the "
                  "container; only what cron reads at boot keeps running")
