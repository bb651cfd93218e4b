"""Objectives for pg-replica-lag: the replica streams from the primary again, securely, through its slot.

Every query runs in psql from the pristine probe image, on the lab network, as the
postgres superuser with search_path=pg_catalog: nothing the learner put in a
container or a schema answers for PostgreSQL. Each check writes a fresh row on the
primary and waits for that very row on the replica.
"""

from __future__ import annotations

import time

import pytest

SLOT_HINT = "/var/log/postgresql/ in the replica"
REPLAY_BOUND_S = 10  # generous: the machine running checks may be busy
TABLE = "public.replication_checks"


class DbError(Exception):
    pass


def _psql(lab, node: str, sql: str, *, dbname: str = "shop") -> str:
    """One SQL command on ``node`` (primary or replica) from the probe image; its output or DbError."""
    result = lab.probe(
        ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
        image="probe",
        env={
            "PGHOST": node, "PGUSER": "postgres", "PGDATABASE": dbname, "PGPASSWORD": lab.values["admin_password"],
            "PGCONNECT_TIMEOUT": "5", "PGOPTIONS": "-c search_path=pg_catalog -c statement_timeout=10s", "PGSSLMODE": "disable",
        },
        timeout=30,
    )
    if result.exit_code != 0:
        raise DbError(" ".join(result.output.split())[:300] or f"exit code {result.exit_code}")
    return result.stdout.strip()


def _reach(node: str, err: DbError) -> str:
    return f"psql as postgres to {node}:5432 from the lab network failed ({err}) — is PostgreSQL running on {node}? Look at /var/log/postgresql/ there"


def _replay_problem(lab, bound: float = REPLAY_BOUND_S) -> str | None:
    """Write a fresh row on the primary; it must be readable on the replica within ``bound`` seconds."""
    token = lab.trace_id()
    try:
        _psql(lab, "primary", f"CREATE TABLE IF NOT EXISTS {TABLE} (token text PRIMARY KEY, written_at timestamptz NOT NULL DEFAULT now())")
        _psql(lab, "primary", f"INSERT INTO {TABLE} (token) VALUES ('{token}')")
    except DbError as err:
        return _reach("primary", err)
    deadline = time.monotonic() + bound
    seen, last_error = None, None
    while time.monotonic() < deadline:
        try:
            seen = _psql(lab, "replica", f"SELECT count(*) FROM {TABLE} WHERE token = '{token}'")
            last_error = None
        except DbError as err:
            last_error = err
            if "does not exist" in str(err):
                seen = "0"  # the table itself has not reached the replica yet
        if seen == "1":
            return None
        time.sleep(0.5)
    if last_error and seen is None:
        return _reach("replica", last_error)
    return f"a row written on the primary did not appear on the replica within {bound:g} s — the replica is not following the primary: look at {SLOT_HINT} and at pg_stat_replication on the primary"


def _streaming_problem(lab) -> str | None:
    """pg_stat_replication and the slot on the primary, pg_stat_wal_receiver on the replica."""
    try:
        senders = _psql(lab, "primary", (
            "SELECT coalesce(string_agg(s.usename || '|' || s.state || '|' || coalesce(r.slot_name, '-') || '|' || u.rolsuper, ','), '') "
            "FROM pg_stat_replication s JOIN pg_roles u ON u.rolname = s.usename "
            "LEFT JOIN pg_replication_slots r ON r.active_pid = s.pid"
        ), dbname="postgres")
    except DbError as err:
        return _reach("primary", err)
    try:
        receiver = _psql(lab, "replica", (
            "SELECT pg_is_in_recovery() || '|' || coalesce((SELECT status || '|' || coalesce(slot_name, '-') FROM pg_stat_wal_receiver), 'none|-')"
        ), dbname="postgres")
    except DbError as err:
        return _reach("replica", err)
    recovering, status, receiver_slot = (receiver.split("|") + ["", "", ""])[:3]
    if recovering != "true":
        return "the replica is no longer in recovery (it was promoted): it is a separate database now and will never follow the primary again"
    if not senders:
        return f"pg_stat_replication on the primary lists no replica, and the replica's WAL receiver is {status!r} — look at {SLOT_HINT}"
    rows = [row.split("|") for row in senders.split(",")]
    streaming = [r for r in rows if r[1] == "streaming"]
    if not streaming:
        return f"the primary sees the replica, but in state {', '.join(r[1] for r in rows)} rather than streaming"
    user, _, slot, superuser = streaming[0]
    if status != "streaming":
        return f"the primary lists a streaming client, but the replica's WAL receiver is {status!r}"
    if slot == "-" or receiver_slot == "-":
        return (
            "the replica streams without a replication slot: the primary does not keep the WAL it has not received yet, "
            "so after the next long disconnect it can never catch up — look at pg_replication_slots on the primary and primary_slot_name on the replica"
        )
    if superuser == "true":
        return f"the replica streams as {user}, a superuser: replication needs only the REPLICATION attribute, and a superuser's password on the replica host opens the whole database"
    return None


def _replication_auth_problem(lab) -> str | None:
    """Replication connections with a wrong password must be refused (no trust, no open door)."""
    for user in ("replicator", "postgres", "nobody_at_all"):
        result = lab.probe(
            ["psql", "-X", "-At", f"host=primary user={user} dbname=replication replication=true connect_timeout=5 sslmode=disable", "-c", "IDENTIFY_SYSTEM"],
            image="probe",
            env={"PGPASSWORD": "wrong-" + lab.trace_id()},
            timeout=30,
        )
        if result.exit_code == 0:
            return f"a replication connection as {user} with a wrong password was accepted by the primary — replication must need the replication role's password (look at pg_hba.conf's replication lines)"
    return None


# --- objectives ----------------------------------------------------------------------------------

def test_row_reaches_replica(lab):
    """A row written on the primary is readable on the replica within seconds"""
    problem = _replay_problem(lab)
    assert problem is None, problem


def test_replica_streams_through_slot(lab):
    """The replica streams from the primary through its replication slot"""
    problem = _streaming_problem(lab)
    assert problem is None, problem


def test_replication_needs_password(lab):
    """Replication connections need the replication role's password"""
    problem = _replication_auth_problem(lab)
    assert problem is None, problem


def test_postgres_unmodified(lab):
    """PostgreSQL's binaries are the original ones on both servers"""
    problems = lab.integrity("primary") + lab.integrity("replica")
    assert not problems, "; ".join(problems[:5]) + " — the repair is in PostgreSQL's configuration, roles and slots"


def test_survives_restart(lab):
    """Replication resumes by itself after every container restarts"""
    before = _replay_problem(lab)
    if before:
        pytest.fail(f"before the restart: {before}")
    lab.restart_all()
    problem = _replay_problem(lab, bound=30) or _streaming_problem(lab)
    assert problem is None, f"after restarting both servers: {problem} (a fix made only in a running session is lost on restart)"
