"""The history of attempts: schema migrations, recording, summaries, concurrent writers, a corrupt
database set aside, the old progress.json imported, and `labs progress` over it (no engine needed)."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from orchestrator.history import MIGRATIONS, History, events_csv


@pytest.fixture
def history_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LABS_STATE_DIR", str(tmp_path))
    return tmp_path


def verdicts(passed: int, total: int) -> list[dict]:
    return [{"id": f"test_{i}", "title": f"objective {i}", "passed": i < passed, "message": "" if i < passed else f"saw {i}"} for i in range(total)]


def test_schema_is_versioned_and_wal(history_dir):
    history = History()
    assert history.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert history.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert history.db.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    history.close()
    again = History()  # opening a current database migrates nothing and keeps the data
    assert again.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    again.close()


def test_attempt_summary_time_to_solve_hints_and_verdicts(history_dir):
    history = History()
    history.record("start", "nginx-misconfig.a", at=1000.0)
    history.record("check", "nginx-misconfig.a", verdicts=verdicts(1, 6), at=1100.0)
    assert history.next_hint("nginx-misconfig.a", 3) == 1
    assert history.next_hint("nginx-misconfig.a", 3) == 2
    history.record("reset", "nginx-misconfig.a", at=1200.0)
    history.record("check", "nginx-misconfig.a", verdicts=verdicts(6, 6), at=1500.0)
    history.record("check", "nginx-misconfig.a", verdicts=verdicts(6, 6), at=1600.0)
    history.record("start", "slow-postgres", at=1000.0)
    [row] = history.summaries("nginx-misconfig", "a")
    assert (row.attempts, row.checks, row.hints_total, row.best) == (2, 3, 2, "6/6")
    assert row.solved and row.solved_at == 1500.0 and row.seconds_to_solve == 300.0 and not row.used_solution
    events = history.events("nginx-misconfig", "a")
    first_check = next(e for e in events if e["kind"] == "check")
    assert (first_check["passed"], first_check["total"]) == (1, 6)
    assert [v["passed"] for v in first_check["verdicts"]] == [True, False, False, False, False, False]
    assert first_check["verdicts"][1]["message"] == "saw 1"
    assert [e["detail"]["hint"] for e in events if e["kind"] == "hint"] == [1, 2]
    assert {(s.lab, s.instance) for s in history.summaries()} == {("nginx-misconfig", "a"), ("slow-postgres", "default")}
    text = events_csv(events)
    assert text.splitlines()[0].startswith("time,lab,instance,event") and "✗ objective 1" in text
    history.close()


def test_solution_applied_is_marked(history_dir):
    history = History()
    history.record("start", "lab", at=10.0)
    history.record("solve", "lab", at=20.0)
    history.record("check", "lab", verdicts=verdicts(2, 2), at=30.0)
    [row] = history.summaries()
    assert row.solved and row.used_solution
    history.close()


def test_hint_counter_is_capped_and_forgotten(history_dir):
    history = History()
    assert [history.next_hint("x", 2) for _ in range(3)] == [1, 2, 2]
    history.forget_hints("x")
    assert history.hints_shown("x") == 0
    history.close()


def test_corrupt_database_is_set_aside_with_a_notice(history_dir):
    (history_dir / "history.sqlite3").write_bytes(b"this is not a database" * 100)
    history = History()
    assert history.notice and "set aside" in history.notice
    assert list(history_dir.glob("history.sqlite3.corrupt-*"))
    history.record("start", "lab")  # the fresh database works
    assert len(history.events()) == 1
    history.close()


def test_old_progress_json_is_imported_once(history_dir):
    (history_dir / "progress.json").write_text(json.dumps({"nginx-misconfig.old": {"hints": 2}, "broken": "x"}))
    history = History()
    assert history.hints_shown("nginx-misconfig.old") == 2
    # Its good entries are imported; with an entry of another shape, the file is kept aside as corrupt.
    assert not (history_dir / "progress.json").exists() and list(history_dir.glob("progress.json.corrupt-*"))
    assert history.next_hint("nginx-misconfig.old", 3) == 3
    history.close()


def _write_many(args):
    state, worker = args
    import os

    os.environ["LABS_STATE_DIR"] = state
    from orchestrator.history import History

    history = History()
    for number in range(40):
        history.record("check", f"lab.w{worker}", verdicts=verdicts(number % 3, 3))
        history.next_hint(f"lab.w{worker}", 100)
    history.close()
    return worker


def test_concurrent_writers_lose_nothing(history_dir):
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert sorted(pool.map(_write_many, [(str(history_dir), n) for n in range(4)], chunksize=1)) == [0, 1, 2, 3]
    history = History()
    events = history.events()
    assert len([e for e in events if e["kind"] == "check"]) == 160
    assert all(history.hints_shown(f"lab.w{n}") == 40 for n in range(4))
    assert history.db.execute("SELECT count(*) FROM verdicts").fetchone()[0] == 480
    history.close()


def test_labs_progress_command(labs, state_dir):
    from orchestrator.history import History
    import os

    os.environ["LABS_STATE_DIR"] = str(state_dir)
    history = History()
    history.record("start", "nginx-misconfig.prog", at=100.0)
    history.record("check", "nginx-misconfig.prog", verdicts=verdicts(3, 3), at=220.0)
    history.close()
    result, rows = labs.json("progress", "nginx-misconfig", "--instance", "prog")
    assert result.returncode == 0
    assert len(rows) == 1 and rows[0]["solved"] and rows[0]["seconds_to_solve"] == 120.0
    table = labs("progress", "nginx-misconfig")
    assert "prog" in table.stdout and "2m00s" in table.stdout
    exported = labs("progress", "--instance", "prog", "--export", "json")
    assert [e["kind"] for e in json.loads(exported.stdout)] == ["start", "check"]
    csv_text = labs("progress", "--instance", "prog", "--export", "csv").stdout
    assert csv_text.count("\n") == 3 and "✓ objective 0" in csv_text
    bad = labs("progress", "--export", "xml")
    assert bad.returncode == 2 and "csv or json" in bad.stderr


def test_recording_failure_is_a_notice_not_an_error(tmp_path, monkeypatch):
    from orchestrator.history import record

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("LABS_STATE_DIR", str(blocker / "state"))  # cannot be created
    notice = record("start", "lab")
    assert notice is not None and "could not record this start" in notice
