"""End to end: the slow-postgres lab on the real engine, through the real `labs` command.

Red without the solution, green with it, idempotent solution, clean stop; and
the shortcut a learner might try (deleting most of the order history so the
scans get cheap) must keep failing.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.docker

LAB = "slow-postgres"
BROKEN = {"test_no_forgotten_transaction", "test_plans_use_indexes", "test_statement_fast", "test_survives_restart"}


def _check(labs, name):
    result, report = labs.json("check", LAB, "--instance", name, timeout=300)
    return result, {o["id"]: o for o in report["objectives"]}


def _failing(objectives: dict) -> set[str]:
    return {oid for oid, o in objectives.items() if not o["passed"]}


def _labelled(engine, key: str) -> list:
    selector = {"label": ["io.labs.managed=true", f"io.labs.instance={key}"]}
    return engine.containers.list(all=True, filters=selector) + engine.networks.list(filters=selector) + engine.volumes.list(filters=selector)


def test_broken_then_solved_then_stopped(labs, lab_instance, instance_name, engine):
    started = lab_instance(LAB)
    assert started.returncode == 0, started.stdout + started.stderr

    result, objectives = _check(labs, instance_name)
    assert result.returncode == 1, result.stdout + result.stderr
    assert _failing(objectives) == BROKEN, {oid: objectives[oid]["message"] for oid in _failing(objectives) ^ BROKEN}
    # What the probes saw is in the verdicts: the stuck session, the plan node, the latency.
    assert "m_kowalski" in objectives["test_no_forgotten_transaction"]["message"]
    assert "idle in transaction" in objectives["test_no_forgotten_transaction"]["message"]
    assert "Seq Scan" in objectives["test_plans_use_indexes"]["message"]
    assert "no index that starts with customer_id" in objectives["test_plans_use_indexes"]["message"]
    assert " ms" in objectives["test_statement_fast"]["message"]
    assert objectives["test_survives_restart"]["outcome"] == "skipped"
    # Verdicts never hand out the fixing command.
    for objective in objectives.values():
        text = objective["message"].upper()
        assert "CREATE INDEX" not in text and "PG_TERMINATE_BACKEND" not in text and "RESET" not in text.replace("LABS RESET", "")

    solved, summary = labs.json("solve", LAB, "--instance", instance_name, timeout=300)
    assert solved.returncode == 0, solved.stdout + solved.stderr
    assert summary["changed"] >= 3, summary

    result, objectives = _check(labs, instance_name)
    assert result.returncode == 0, {oid: o["message"] for oid, o in objectives.items() if not o["passed"]}
    assert all(o["passed"] for o in objectives.values())

    again, summary = labs.json("solve", LAB, "--instance", instance_name, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert summary["changed"] == 0, f"a second solve changed things: {summary}"

    stopped = labs("stop", LAB, "--instance", instance_name)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert _labelled(engine, f"{LAB}.{instance_name}") == []


def test_deleting_history_is_not_a_fix(labs, lab_instance, instance_name):
    started = lab_instance(LAB)
    assert started.returncode == 0, started.stdout + started.stderr

    # The shortcut: end the stuck session, then throw away most orders so every scan is cheap.
    cheat = labs(
        "shell", LAB, "db", "--instance", instance_name, "--",
        "runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-d", "shop", "-v", "ON_ERROR_STOP=1",
        "-c", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'm_kowalski'",
        "-c", "DELETE FROM order_items WHERE order_id > 20000",
        "-c", "DELETE FROM orders WHERE id > 20000",
        "-c", "VACUUM ANALYZE orders, order_items",
        timeout=300,
    )
    assert cheat.returncode == 0, cheat.stdout + cheat.stderr

    result, objectives = _check(labs, instance_name)
    assert result.returncode == 1
    failing = _failing(objectives)
    assert {"test_data_intact", "test_statement_answers_correct"} <= failing, {oid: o["message"] for oid, o in objectives.items()}
    assert "missing" in objectives["test_data_intact"]["message"]
    assert "wrong" in objectives["test_statement_answers_correct"]["message"]
    assert objectives["test_no_forgotten_transaction"]["passed"]
