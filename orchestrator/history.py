"""The history of every attempt: starts, resets, hints, solutions, stops and checks, in SQLite.

One database in the state folder (``history.sqlite3``), written by the CLI and
by ``labs serve`` alike: WAL journal and a busy timeout so several processes
write safely at once. Its schema is versioned (``PRAGMA user_version``) and
migrated forward on open. A database that is not one (corrupt, truncated) is
set aside as ``history.sqlite3.corrupt-<time>`` and a fresh one started; the
reason is kept in ``History.notice`` for the face to show. The hint counter and
the current stage of each instance live here too; an old ``progress.json`` is
imported once.

Recording never breaks a lab command: a failure to record is a notice, not an
error. Nothing here prints.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from orchestrator.paths import state_dir

DB_NAME = "history.sqlite3"
KINDS = ("start", "reset", "hint", "solve", "check", "stop")
BUSY_TIMEOUT_MS = 15000
NOTICES: list[str] = []  # set-aside databases in this process, for the face to show once

# Each entry moves the schema one version forward; never edit a shipped one, append.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        lab TEXT NOT NULL,
        instance TEXT NOT NULL,
        kind TEXT NOT NULL,
        passed INTEGER,
        total INTEGER,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_by_instance ON events (lab, instance, at);
    CREATE TABLE verdicts (
        event_id INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        objective TEXT NOT NULL,
        title TEXT NOT NULL,
        passed INTEGER NOT NULL,
        message TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX verdicts_by_event ON verdicts (event_id);
    CREATE TABLE hint_state (
        key TEXT PRIMARY KEY,
        shown INTEGER NOT NULL
    );
    """,
    """
    CREATE TABLE stage_state (
        key TEXT PRIMARY KEY,
        stage TEXT
    );
    """,
]


def db_path() -> Path:
    return state_dir() / DB_NAME


def _split_key(key: str) -> tuple[str, str]:
    lab, _, instance = key.partition(".")
    return lab, instance or "default"


class History:
    """An open history database (one connection; open one per thread or process)."""

    def __init__(self, path: Path | None = None):
        from orchestrator.paths import writable_state_dir

        # The state folder is checked first: a file in its place, or one that cannot be created
        # or written, is one clear usage error (exit 2), never a traceback.
        self.path = path or writable_state_dir() / DB_NAME
        self.notice: str | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = self._open()
        except sqlite3.DatabaseError as err:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            with contextlib.suppress(OSError):
                self.path.rename(aside)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(OSError):
                    self.path.with_name(self.path.name + suffix).unlink()
            self.notice = f"the history database {self.path} was unreadable ({err}); it was set aside as {aside.name} and a new one started"
            NOTICES.append(self.notice)
            self.db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        try:
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA foreign_keys = ON")
            self._migrate(db)
            db.execute("SELECT count(*) FROM events").fetchone()
            if os.path.lexists(self.path.with_name("progress.json")):
                self._import_progress_json(db)
        except BaseException:
            db.close()
            raise
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version >= len(MIGRATIONS):
            return
        db.execute("BEGIN IMMEDIATE")  # one migrator at a time; the others wait, then see it done
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            for number in range(version, len(MIGRATIONS)):
                for statement in _statements(MIGRATIONS[number]):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number + 1}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _import_progress_json(self, db: sqlite3.Connection) -> None:
        """The hint counters of the JSON file kept before this database, found beside it (renamed
        once imported; a corrupt one is set aside like before)."""
        old = self.path.with_name("progress.json")
        from orchestrator.labfiles import UnsafeLabFile, read_bytes

        try:  # read safely: never blocks on a FIFO, never more than 1 MiB
            if old.is_symlink() or not old.is_file():
                raise ValueError("not a regular file")
            data = json.loads(read_bytes(old, 1024 * 1024).decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except (ValueError, UnsafeLabFile, OSError):
            with contextlib.suppress(OSError):
                old.rename(old.with_name(f"progress.json.corrupt-{int(time.time())}"))
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            for key, entry in data.items():
                shown = entry.get("hints", 0) if isinstance(entry, dict) else 0
                stage = entry.get("stage") if isinstance(entry, dict) else None
                if isinstance(stage, str):
                    db.execute("INSERT OR IGNORE INTO stage_state (key, stage) VALUES (?, ?)", (str(key), stage))
                if isinstance(shown, int) and shown > 0:
                    db.execute("INSERT INTO hint_state (key, shown) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET shown = max(shown, excluded.shown)", (str(key), shown))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        # What could be read is imported; a file that also held entries of another shape is kept
        # aside as corrupt (nothing of the learner's is lost), else marked imported.
        malformed = any(
            not isinstance(entry, dict) or not isinstance(entry.get("hints", 0), int) or not isinstance(entry.get("stage"), str | None)
            for entry in data.values()
        )
        aside = f"progress.json.corrupt-{int(time.time())}" if malformed else "progress.json.imported"
        with contextlib.suppress(OSError):
            old.replace(old.with_name(aside))

    def close(self) -> None:
        self.db.close()

    # -- recording -------------------------------------------------------------------------

    def record(self, kind: str, key: str, *, detail: dict | None = None, verdicts: list[dict] | None = None, at: float | None = None) -> int:
        """One event for the instance ``key`` (``lab`` or ``lab.instance``); returns its id."""
        if kind not in KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        lab, instance = _split_key(key)
        passed = total = None
        if verdicts is not None:
            total = len(verdicts)
            passed = sum(1 for v in verdicts if v.get("passed"))
        self.db.execute("BEGIN IMMEDIATE")
        try:
            cursor = self.db.execute(
                "INSERT INTO events (at, lab, instance, kind, passed, total, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (at or time.time(), lab, instance, kind, passed, total, json.dumps(detail or {})),
            )
            event_id = cursor.lastrowid
            for verdict in verdicts or []:
                self.db.execute(
                    "INSERT INTO verdicts (event_id, objective, title, passed, message) VALUES (?, ?, ?, ?, ?)",
                    (event_id, verdict.get("id", ""), verdict.get("title", ""), 1 if verdict.get("passed") else 0, verdict.get("message", "")),
                )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return event_id

    def next_hint(self, key: str, count: int) -> int:
        """Advance the instance's hint counter (capped at ``count``) and record it; the new number."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            row = self.db.execute("SELECT shown FROM hint_state WHERE key = ?", (key,)).fetchone()
            number = min((row[0] if row else 0) + 1, count)
            self.db.execute("INSERT OR REPLACE INTO hint_state (key, shown) VALUES (?, ?)", (key, number))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        instance_key, _, stage = key.partition("#")  # staged labs count hints per stage
        self.record("hint", instance_key, detail={"hint": number, "of": count, **({"stage": stage} if stage else {})})
        return number

    def hints_shown(self, key: str) -> int:
        row = self.db.execute("SELECT shown FROM hint_state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else 0

    def forget_hints(self, key: str) -> None:
        """Hints (of every stage) and the stage of the instance ``key`` start over."""
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute("DELETE FROM hint_state WHERE key = ? OR substr(key, 1, ?) = ?", (key, len(key) + 1, key + "#"))
        self.db.execute("DELETE FROM stage_state WHERE key = ?", (key,))
        self.db.execute("COMMIT")

    def set_stage(self, key: str, stage: str | None) -> None:
        self.db.execute("INSERT OR REPLACE INTO stage_state (key, stage) VALUES (?, ?)", (key, stage))

    def stage(self, key: str) -> str | None:
        row = self.db.execute("SELECT stage FROM stage_state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    # -- reading ---------------------------------------------------------------------------

    def events(self, lab: str | None = None, instance: str | None = None) -> list[dict]:
        """Every event, oldest first, each check with its verdicts."""
        query, args = "SELECT id, at, lab, instance, kind, passed, total, detail FROM events", []
        where = []
        if lab:
            where.append("lab = ?")
            args.append(lab)
        if instance:
            where.append("instance = ?")
            args.append(instance)
        if where:
            query += " WHERE " + " AND ".join(where)
        rows = self.db.execute(query + " ORDER BY at, id", args).fetchall()
        verdicts: dict[int, list[dict]] = {}
        ids = [r[0] for r in rows if r[4] == "check"]
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for event_id, objective, title, passed, message in self.db.execute(
                f"SELECT event_id, objective, title, passed, message FROM verdicts WHERE event_id IN ({','.join('?' * len(chunk))}) ORDER BY rowid",
                chunk,
            ):
                verdicts.setdefault(event_id, []).append({"id": objective, "title": title, "passed": bool(passed), "message": message})
        return [
            {"id": r[0], "at": r[1], "lab": r[2], "instance": r[3], "kind": r[4], "passed": r[5], "total": r[6],
             "detail": json.loads(r[7] or "{}"), **({"verdicts": verdicts.get(r[0], [])} if r[4] == "check" else {})}
            for r in rows
        ]

    def summaries(self, lab: str | None = None, instance: str | None = None) -> list[Attempts]:
        """Per lab instance: attempts, hints, checks, whether and when it was solved."""
        found: dict[tuple[str, str], Attempts] = {}
        for event in self.events(lab, instance):
            summary = found.setdefault((event["lab"], event["instance"]), Attempts(event["lab"], event["instance"]))
            summary.add(event)
        return list(found.values())


@dataclass
class Attempts:
    """What `labs progress` shows for one lab instance. An attempt runs from a start or reset
    to the next one (or a stop); time to solve is from the attempt's start to its first check
    where every objective passed."""

    lab: str
    instance: str
    attempts: int = 0
    checks: int = 0
    hints: int = 0  # hints shown in the current (latest) attempt
    hints_total: int = 0
    solved: bool = False
    solved_at: float | None = None
    seconds_to_solve: float | None = None
    used_solution: bool = False  # `labs solve` applied in the attempt that was solved
    best: str = ""  # e.g. "4/6": the most objectives passing in one check
    last_check: str = ""
    last_activity: float | None = None
    first_seen: float | None = None
    _attempt_start: float | None = field(default=None, repr=False)
    _attempt_solution: bool = field(default=False, repr=False)
    _best: tuple[int, int] = field(default=(0, 0), repr=False)

    def add(self, event: dict) -> None:
        at, kind = event["at"], event["kind"]
        self.first_seen = self.first_seen or at
        self.last_activity = at
        if kind in ("start", "reset"):
            if not (kind == "start" and event["detail"].get("already_running")):
                self.attempts += 1
                self._attempt_start = at
                self._attempt_solution = False
                self.hints = 0
        elif kind == "hint":
            self.hints = max(self.hints, int(event["detail"].get("hint", self.hints + 1)))
            self.hints_total += 1
        elif kind == "solve":
            self._attempt_solution = True
        elif kind == "check" and event["total"] is not None:
            self.checks += 1
            passed, total = event["passed"], event["total"]
            self.last_check = f"{passed}/{total}"
            if passed >= self._best[0]:
                self._best = (passed, total)
                self.best = f"{passed}/{total}"
            if total and passed == total and not self.solved:
                self.solved = True
                self.solved_at = at
                self.used_solution = self._attempt_solution
                start = self._attempt_start if self._attempt_start is not None else self.first_seen
                self.seconds_to_solve = round(at - start, 1)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def open_history() -> History:
    return History()


def record(kind: str, key: str, **kwargs) -> str | None:
    """Record one event; never raises. Returns a notice to show (set-aside database, or why
    recording failed), else None."""
    from orchestrator.errors import UsageError

    try:
        history = History()
    except UsageError as err:
        return f"could not record this {kind} in the history ({err.message})"
    except (sqlite3.Error, OSError) as err:
        return f"could not record this {kind} in the history ({err})"
    try:
        history.record(kind, key, **kwargs)
        return history.notice
    except (sqlite3.Error, OSError) as err:
        return f"could not record this {kind} in the history ({err})"
    finally:
        history.close()


def check_verdicts(report) -> list[dict]:
    """A check report's objectives as the verdicts the history keeps."""
    return [{"id": o.id, "title": o.title, "passed": o.passed, "message": o.message} for o in report.objectives]


def events_csv(events: list[dict]) -> str:
    """Events as CSV, one row each; a check's verdicts as `✓ title` / `✗ title` joined by ' | '."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["time", "lab", "instance", "event", "passed", "total", "detail", "objectives"])
    for event in events:
        objectives = " | ".join(("✓ " if v["passed"] else "✗ ") + v["title"] for v in event.get("verdicts", []))
        writer.writerow([
            time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(event["at"])), event["lab"], event["instance"], event["kind"],
            "" if event["passed"] is None else event["passed"], "" if event["total"] is None else event["total"],
            json.dumps(event["detail"]) if event["detail"] else "", objectives,
        ])
    return buffer.getvalue()
