"""End to end: the slow-postgres lab on the real engine, through the real `labs` command.

Red without the solution; green with it while both cores are busy; idempotent
solution; clean stop. Then the known wrong fixes (labs/slow-postgres/shortcuts/,
one of each class of shortcut that applies to this lab) must fail on the
objective they fake, and valid fixes other than the reference one must pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

LAB = "slow-postgres"
SHORTCUTS = Path(__file__).resolve().parent.parent / "labs" / LAB / "shortcuts"
BROKEN = {"test_no_forgotten_transaction", "test_plans_use_indexes", "test_statement_fast", "test_survives_restart"}
PSQL = "runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d shop"

# shortcut -> (the objective it fakes and must fail, words its verdict must hold)
CAUGHT = {
    "pth_hook": ("test_app_unmodified", "was added"),  # the learner owns the runtime (.pth hook)
    "psql_shim": ("test_plans_use_indexes", "do not use"),  # the learner owns the probe's tool (psql)
    "shadow_catalog": ("test_no_forgotten_transaction", "m_kowalski"),  # catalog read through the learner's search_path
    "frozen_copy": ("test_statement_answers_correct", "live tables"),  # no proof the real path was taken
    "forced_planner_database": ("test_plans_use_indexes", "enable_seqscan"),  # a planner method forced off
    "forced_planner_role": ("test_plans_use_indexes", "enable_seqscan"),  # a planner method forced off for the app's role
    "delete_history": ("test_data_intact", "missing"),  # compared with what is left, not with the truth
}

# Valid fixes other than solution.py: each must pass every objective.
ALTERNATIVES = {
    # The support session's psql client is killed on the database host (its backend rolls back),
    # covering indexes are built in one go, every role setting of the app is dropped at once,
    # and the refund is redone properly, committed (the ticket accepts it either way).
    "kill the client, covering indexes, refund redone": [
        "runuser -u postgres -- psql -XAt -d shop -c \"SELECT substring(query from 'id = ([0-9]+)') FROM pg_stat_activity WHERE usename = 'm_kowalski'\" > /tmp/refund-order",
        "kill $(pgrep -x psql)",
        "for i in $(seq 100); do n=$(runuser -u postgres -- psql -XAt -d shop -c \"SELECT count(*) FROM pg_stat_activity WHERE usename = 'm_kowalski'\"); [ \"$n\" = 0 ] && break; sleep 0.2; done",
        f"{PSQL} -c 'CREATE INDEX orders_by_customer ON orders (customer_id) INCLUDE (placed_at, status, channel, total_cents)'",
        f"{PSQL} -c 'CREATE INDEX order_items_by_order ON order_items (order_id, line_no)'",
        f"{PSQL} -c 'ALTER ROLE shop_app RESET ALL'",
        f"{PSQL} -c \"UPDATE orders SET status = 'refunded' WHERE id = $(cat /tmp/refund-order)\"",
    ],
    # pg_terminate_backend on the blocker, a composite index for the recent-orders query built
    # CONCURRENTLY, and the two overrides reset one by one.
    "terminate, composite index concurrently": [
        f"{PSQL} -c \"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE state = 'idle in transaction'\"",
        f"{PSQL} -c 'CREATE INDEX CONCURRENTLY orders_customer_recent ON orders (customer_id, placed_at DESC)'",
        f"{PSQL} -c 'CREATE INDEX CONCURRENTLY ON order_items USING hash (order_id)'",
        f"{PSQL} -c 'ALTER ROLE shop_app RESET enable_indexscan' -c 'ALTER ROLE shop_app RESET enable_bitmapscan'",
    ],
}


def _check(labs, name):
    result, report = labs.json("check", LAB, "--instance", name, timeout=900)
    return result, {o["id"]: o for o in report["objectives"]}


def _failing(objectives: dict) -> set[str]:
    return {oid for oid, o in objectives.items() if not o["passed"]}


def _labelled(engine, key: str) -> list:
    selector = {"label": ["io.labs.managed=true", f"io.labs.instance={key}"]}
    return engine.containers.list(all=True, filters=selector) + engine.networks.list(filters=selector) + engine.volumes.list(filters=selector)


def _on_db(labs, name: str, command: str) -> None:
    done = labs("shell", LAB, "db", "--instance", name, "--", "sh", "-c", command, timeout=900)
    assert done.returncode == 0, f"`{command}`: {done.stdout}{done.stderr}"


def test_broken_then_solved_under_load_then_stopped(labs, lab_instance, instance_name, engine, cpu_load):
    started = lab_instance(LAB)
    assert started.returncode == 0, started.stdout + started.stderr

    result, objectives = _check(labs, instance_name)
    assert result.returncode == 1, result.stdout + result.stderr
    failing = _failing(objectives)
    # A broken statement takes seconds; on a busy machine it may not come back at all.
    assert BROKEN <= failing <= BROKEN | {"test_statement_answers_correct"}, {oid: objectives[oid]["message"] for oid in failing ^ BROKEN}
    # What the probes saw is in the verdicts: the stuck session, the plan node, the latency.
    assert "m_kowalski" in objectives["test_no_forgotten_transaction"]["message"]
    assert "idle in transaction" in objectives["test_no_forgotten_transaction"]["message"]
    assert "Seq Scan" in objectives["test_plans_use_indexes"]["message"]
    assert "no index that starts with customer_id" in objectives["test_plans_use_indexes"]["message"]
    assert "statement" in objectives["test_statement_fast"]["message"]
    assert objectives["test_survives_restart"]["outcome"] == "skipped"
    # Verdicts never hand out the fixing command.
    for objective in objectives.values():
        text = objective["message"].upper()
        assert "CREATE INDEX" not in text and "PG_TERMINATE_BACKEND" not in text and "RESET" not in text.replace("LABS RESET", "")

    solved, summary = labs.json("solve", LAB, "--instance", instance_name, timeout=900)
    assert solved.returncode == 0, solved.stdout + solved.stderr
    assert summary["changed"] >= 3, summary

    with cpu_load(60):  # both cores busy while the checks run: verdicts, not timings, are tested
        result, objectives = _check(labs, instance_name)
    assert result.returncode == 0, {oid: o["message"] for oid, o in objectives.items() if not o["passed"]}
    assert all(o["passed"] for o in objectives.values())

    again, summary = labs.json("solve", LAB, "--instance", instance_name, timeout=900)
    assert again.returncode == 0, again.stdout + again.stderr
    assert summary["changed"] == 0, f"a second solve changed things: {summary}"

    stopped = labs("stop", LAB, "--instance", instance_name)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert _labelled(engine, f"{LAB}.{instance_name}") == []


def test_every_shortcut_fails_on_what_it_fakes(labs, lab_instance, instance_name):
    # Every shipped shortcut: `labs validate`'s shortcuts phase is left to this test (tests/test_validate.py).
    assert {p.stem for p in SHORTCUTS.glob("[!_]*.py")} == set(CAUGHT)
    started = lab_instance(LAB)
    assert started.returncode == 0, started.stdout + started.stderr
    verdicts = labs.shortcut_verdicts(LAB, instance_name, [SHORTCUTS / f"{name}.py" for name in CAUGHT])
    assert all(code == 1 for code, _, _ in verdicts.values()), {s: out for s, (code, _, out) in verdicts.items() if code != 1}
    seen = {s: verdicts[s][1][objective] for s, (objective, _) in CAUGHT.items()}
    wrong = {s: o["message"] for s, o in seen.items() if o["passed"] or CAUGHT[s][1] not in o["message"]}
    assert not wrong, wrong


def test_valid_fixes_other_than_the_reference_pass(labs, lab_instance, instance_name):
    started = lab_instance(LAB)
    assert started.returncode == 0, started.stdout + started.stderr
    for n, (fix, commands) in enumerate(ALTERNATIVES.items()):
        if n:
            reset = labs("reset", LAB, "--instance", instance_name, timeout=900)
            assert reset.returncode == 0, reset.stdout + reset.stderr
        for command in commands:
            _on_db(labs, instance_name, command)
        result, objectives = _check(labs, instance_name)
        assert result.returncode == 0, (fix, {oid: o["message"] for oid, o in objectives.items() if not o["passed"]})
