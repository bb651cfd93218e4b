"""Long lab operations for the web face: the core's start/reset/stop in the background, with progress.

A page asks for a start and gets an operation id at once; the operation runs
``lifecycle.start_lab`` (the function `labs start` calls) in a worker thread,
collecting its progress lines, and ends ``done`` or ``failed`` with the core's
message and fix — never an endless "starting". One operation per instance at
a time. Checks run ``lifecycle.check_lab`` (what `labs check` calls) in worker processes: pytest
runs in-process and is not made for threads, and the server's loop stays free.
"""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import Conflict, LabsError

_ids = itertools.count(1)


@dataclass
class Operation:
    id: int
    kind: str  # start | reset | stop
    lab: str
    instance: str
    state: str = "running"  # running | done | failed
    lines: list[dict] = field(default_factory=list)
    error: dict | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None

    def say(self, text: str) -> None:
        self.lines.append({"at": round(time.time() - self.started, 1), "text": text})

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "lab": self.lab, "instance": self.instance, "state": self.state,
                "lines": list(self.lines), "error": self.error, "seconds": round((self.finished or time.time()) - self.started, 1)}


def _check_worker(lab_id: str, labs_dir: str | None, instance: str) -> dict:
    """In a worker process: the same calls `labs check` makes."""
    from orchestrator.catalog import Catalog
    from orchestrator.lifecycle import check_lab

    try:
        lab = Catalog.from_env(Path(labs_dir) if labs_dir else None).get(lab_id)
        report = check_lab(lab, instance)
    except LabsError as err:
        return {"error": err.to_dict()}
    return {"report": report.to_dict()}


class Operations:
    """Operations in flight and recently finished, and the pools that run them."""

    def __init__(self, labs_dir: Path | None, on_stopped=None, check_workers: int = 2):
        self.labs_dir = labs_dir
        self.on_stopped = on_stopped  # called with the instance key after a stop or reset
        self.threads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="labs-op")
        self._check_workers = check_workers
        self._checks: ProcessPoolExecutor | None = None
        self.by_id: dict[int, Operation] = {}
        self.current: dict[str, Operation] = {}  # instance key -> running operation
        self.lock = threading.Lock()

    def catalog(self):
        from orchestrator.catalog import Catalog

        return Catalog.from_env(self.labs_dir)

    def submit(self, kind: str, lab_id: str, instance: str, before=None) -> Operation:
        """Start ``kind`` on the instance in the background; a Conflict if one is already running.
        ``before`` (optional) runs first in the worker, e.g. admission control."""
        from orchestrator.engine.instances import instance_key

        key = instance_key(lab_id, instance)
        lab = self.catalog().get(lab_id) if kind != "stop" else None  # not found: at once, not later
        with self.lock:
            running = self.current.get(key)
            if running is not None and running.state == "running":
                raise Conflict(f"{key} is already being {running.kind}ed (operation {running.id})", "wait for it to finish")
            op = Operation(next(_ids), kind, lab_id, instance)
            self.by_id[op.id] = op
            self.current[key] = op
        self.threads.submit(self._run, op, lab, before)
        return op

    def _run(self, op: Operation, lab, before) -> None:
        from orchestrator import lifecycle

        try:
            if before is not None:
                before(lab)
            if op.kind == "start":
                op.say(f"starting {op.lab}")
                inst = lifecycle.start_lab(lab, op.instance, progress=op.say)
                op.say("already running: nothing changed" if inst.already_running else f"{inst.key} is running, and broken")
            elif op.kind == "reset":
                if self.on_stopped:
                    self.on_stopped(f"{op.lab}.{op.instance}" if op.instance != "default" else op.lab)
                inst = lifecycle.reset_lab(lab, op.instance, progress=op.say)
                op.say(f"{inst.key} is back to its broken start")
            elif op.kind == "stop":
                if self.on_stopped:
                    self.on_stopped(f"{op.lab}.{op.instance}" if op.instance != "default" else op.lab)
                result = lifecycle.stop_lab(op.lab, op.instance)
                op.say(f"removed {result.removed} resource(s)" if result.keys else "it was not running: nothing to do")
            op.state = "done"
        except LabsError as err:
            op.error = err.to_dict()
            op.state = "failed"
        except BaseException as err:  # a bug: say so, never leave the page waiting
            op.error = {"error": f"{type(err).__name__}: {err}", "fix": "see the server's log", "exit_code": 1}
            op.state = "failed"
        finally:
            op.finished = time.time()

    def get(self, op_id: int) -> Operation | None:
        return self.by_id.get(op_id)

    def running(self, key: str) -> Operation | None:
        op = self.current.get(key)
        return op

    def check(self, lab_id: str, instance: str) -> Future:
        """Run the lab's checks on the instance in a worker process; a future of
        {"report": ...} or {"error": ...}."""
        if self._checks is None:
            import multiprocessing

            self._checks = ProcessPoolExecutor(max_workers=self._check_workers, mp_context=multiprocessing.get_context("spawn"))
        return self._checks.submit(_check_worker, lab_id, str(self.labs_dir) if self.labs_dir else None, instance)

    def shutdown(self) -> None:
        self.threads.shutdown(wait=False, cancel_futures=True)
        if self._checks is not None:
            self._checks.shutdown(wait=False, cancel_futures=True)
