"""Validating labs end to end, as CI and instructors do before learners ever see them.

For each lab, in an instance of its own (a unique name such as ``v1a2b3c4d``):

1. ``lint``: the spec, its files and its suite, without Docker (``orchestrator.lint``);
2. ``build``: the service images, built once up front for every lab (cached);
3. ``start``: the environment starts, broken;
4. ``negative-control``: the checks fail before any fix (a lab that passes unsolved is broken);
5. ``solution``: the reference solution applies and every objective passes;
6. ``idempotence``: a second run of the solution changes nothing;
7. ``reset``: the faults come back, so the checks fail again;
8. ``shortcuts``: each known wrong fix in ``shortcuts/*.py``, applied to a freshly broken
   instance (reset between them), leaves at least one objective failing;
9. ``stop``: nothing labelled with the instance is left in the engine.

Each lab runs in a worker process of its own (``python -c 'from orchestrator.validate
import worker_main; ...'``): pytest keeps module state between runs in one process and
pyinfra runs on gevent, so labs never share an interpreter, and ``jobs`` of them run side
by side. A worker that hangs past its deadline or dies is stopped, and its instance is
removed by label. Nothing here prints: progress goes to a callback as ``Event``s, and
results come back as dataclasses.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.engine.probes import PROBE_IMAGE
from orchestrator.errors import Interrupted, LabsError, UsageError
from orchestrator.lifecycle import check_images

if TYPE_CHECKING:
    from orchestrator.check_runner import CheckReport
    from orchestrator.lint import LintResult
    from orchestrator.spec import Lab

PHASES = ("lint", "build", "start", "negative-control", "solution", "idempotence", "reset", "shortcuts", "stop")

# A build lab's phases mean other things, and are named for them where people read them
# (the summary, the JUnit report); the phase keys above stay the same for machines.
BUILD_PHASE_TITLES = {
    "start": "start-prepared",
    "negative-control": "fresh-not-already-built",
    "solution": "reference-build",
    "reset": "reset-to-prepared",
}


def phase_title(phase: str, kind: str = "repair") -> str:
    """What a phase is called for a lab of ``kind``."""
    return BUILD_PHASE_TITLES.get(phase, phase) if kind == "build" else phase
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
SKIPPABLE = ("idempotence", "reset", "shortcuts")  # phases `--skip` may leave out: nothing after them depends on them
DEFAULT_TIMEOUT = 900.0  # seconds one lab's whole validation may take
# Seconds a worker gets to clean up after SIGTERM before SIGKILL. A command that blocks
# inside a deploy may not let it react at all; the parent then removes the instance by label.
_STOP_GRACE = 10.0
# Set by a worker's SIGTERM handler. pytest (and gevent) catch the KeyboardInterrupt the
# handler raises and carry on with partial results, so phases check this flag as well.
_STOPPING = threading.Event()
_MESSAGE_LIMIT = 1500


@dataclass
class Event:
    """Progress of one lab: ``status`` is None while a phase runs, then passed/failed/skipped."""

    lab: str
    phase: str
    text: str
    status: str | None = None


Progress = Callable[[Event], None]


def _quiet(_: Event) -> None:
    pass


@dataclass
class PhaseResult:
    phase: str
    status: str  # passed, failed, skipped
    message: str = ""
    seconds: float = 0.0
    objectives: dict[str, bool] | None = None  # for the phases that run the checks: name -> passed
    cases: list[dict] | None = None  # the shortcuts phase: one {name, status, message, seconds, caught_by} each

    @property
    def failed(self) -> bool:
        return self.status == FAILED


@dataclass
class LabValidation:
    lab: str
    folder: str
    instance: str | None = None  # the instance name (``--instance``) used, once one was chosen
    phases: list[PhaseResult] = field(default_factory=list)
    kept: bool = False  # left running for inspection (``keep`` and a phase failed)
    seconds: float = 0.0
    kind: str = "repair"  # the lab's kind: repair or build

    @property
    def ok(self) -> bool:
        return bool(self.phases) and not any(p.failed for p in self.phases)

    @property
    def failures(self) -> list[PhaseResult]:
        return [p for p in self.phases if p.failed]

    @property
    def key(self) -> str | None:
        return f"{self.lab}.{self.instance}" if self.instance else None

    def phase(self, name: str) -> PhaseResult | None:
        return next((p for p in self.phases if p.phase == name), None)

    def to_dict(self) -> dict:
        return {
            "lab": self.lab,
            "kind": self.kind,
            "folder": self.folder,
            "instance": self.instance,
            "ok": self.ok,
            "kept": self.kept,
            "seconds": round(self.seconds, 2),
            "phases": [asdict(p) for p in self.phases],
        }

    @classmethod
    def from_dict(cls, data: dict) -> LabValidation:
        phases = [PhaseResult(**p) for p in data.get("phases", [])]
        return cls(data["lab"], data["folder"], data.get("instance"), phases, data.get("kept", False), data.get("seconds", 0.0), data.get("kind", "repair"))


@dataclass
class ValidationReport:
    labs: list[LabValidation]
    jobs: int = 1
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.labs) and all(lab.ok for lab in self.labs)

    @property
    def failed(self) -> list[LabValidation]:
        return [lab for lab in self.labs if not lab.ok]

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "jobs": self.jobs,
            "seconds": round(self.seconds, 2),
            "phases": list(PHASES),
            "labs": [lab.to_dict() for lab in self.labs],
        }


# --------------------------------------------------------------------------- one lab, in this process


def _clip(text: str, limit: int = _MESSAGE_LIMIT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_text(err: BaseException) -> str:
    if isinstance(err, LabsError):
        return err.message + (f" ({err.fix})" if err.fix else "")
    return f"unexpected {type(err).__name__}: {err}"


def _objectives(report: CheckReport) -> dict[str, bool]:
    return {o.id: o.passed for o in report.objectives}


def _failing(report: CheckReport, limit: int = 6) -> str:
    lines = [f"{o.id}: {o.message or o.outcome}" for o in report.failed[:limit]]
    if len(report.failed) > limit:
        lines.append(f"(and {len(report.failed) - limit} more)")
    return "; ".join(lines)


class _Phases:
    """Runs phases, records their results and reports progress."""

    def __init__(self, result: LabValidation, progress: Progress, on_phase: Callable[[PhaseResult], None] | None):
        self.result = result
        self.progress = progress
        self.on_phase = on_phase

    def say(self, phase: str, text: str) -> None:
        self.progress(Event(self.result.lab, phase, text))

    def record(self, phase: PhaseResult) -> PhaseResult:
        phase.message = _clip(phase.message)
        self.result.phases.append(phase)
        self.progress(Event(self.result.lab, phase.phase, phase.message, phase.status))
        if self.on_phase:
            self.on_phase(phase)
        return phase

    def skip(self, names, why: str) -> None:
        for name in names:
            self.record(PhaseResult(name, SKIPPED, why))

    def run(self, name: str, intro: str, body) -> PhaseResult:
        """``body()`` returns (passed, message[, objectives]); a raised error fails the phase."""
        self.say(name, intro)
        started = time.perf_counter()
        try:
            outcome = body()
            if _STOPPING.is_set():
                raise KeyboardInterrupt
            passed, message = outcome[0], outcome[1]
            objectives = outcome[2] if len(outcome) > 2 else None
            cases = outcome[3] if len(outcome) > 3 else None
            phase = PhaseResult(name, PASSED if passed else FAILED, message, objectives=objectives, cases=cases)
        except (KeyboardInterrupt, SystemExit, Interrupted):
            raise  # stop everything: validate_lab removes the instance on the way out
        except Exception as err:  # noqa: BLE001 - every failure becomes the phase's verdict
            if _STOPPING.is_set():
                raise KeyboardInterrupt from None
            phase = PhaseResult(name, FAILED, _error_text(err))
        phase.seconds = round(time.perf_counter() - started, 2)
        return self.record(phase)


def new_instance_name(lab_id: str, engine=None) -> str:
    """A fresh instance name (``v`` and 8 hex digits) that no existing instance of the lab uses."""
    from orchestrator.engine import open_engine
    from orchestrator.engine.instances import instance_key

    engine = engine or open_engine()
    while True:
        name = f"v{secrets.token_hex(4)}"
        if not engine.instances(key=instance_key(lab_id, name)):
            return name


def leftovers(key: str, engine=None) -> list[str]:
    """Every container, network and volume still labelled with instance ``key``."""
    from orchestrator.engine import open_engine

    return (engine or open_engine()).leftovers(key)


def _stop_and_verify(lab_id: str, instance: str) -> tuple[bool, str]:
    from orchestrator.engine.instances import instance_key
    from orchestrator.lifecycle import stop_lab

    key = instance_key(lab_id, instance)
    stopped = stop_lab(lab_id, instance, record=False)
    left = leftovers(key)
    if not left:
        return True, f"removed {stopped.removed} resource(s); nothing labelled {key} is left"
    stop_lab(lab_id, instance, record=False)
    still = leftovers(key)
    after = "a second stop removed them" if not still else f"still there after a second stop: {', '.join(still)}"
    return False, f"after `labs stop`, {len(left)} resource(s) labelled {key} remained: {', '.join(left)} ({after})"


def validate_lab(
    lab: Lab,
    *,
    instance: str | None = None,
    keep: bool = False,
    skip: tuple[str, ...] = (),
    build: bool = True,
    lint: PhaseResult | None = None,
    progress: Progress = _quiet,
    on_phase: Callable[[PhaseResult], None] | None = None,
) -> LabValidation:
    """Validate one lab in this process (``lint`` is a lint phase already run; ``build=False``
    when the images were built up front; ``skip``: phases of SKIPPABLE left out, recorded as
    skipped). Always stops the instance, unless ``keep`` and a phase failed; an interrupt
    stops it too and propagates."""
    from orchestrator.check_runner import run_checks
    from orchestrator.engine import open_engine
    from orchestrator.lifecycle import reset_lab, running_instance, solve_lab, start_lab
    from orchestrator.lint import read_shortcuts

    started = time.perf_counter()
    result = LabValidation(lab.id, str(lab.folder), kind=lab.kind)
    building = lab.kind == "build"
    phases = _Phases(result, progress, on_phase)
    if lint is not None:
        phases.record(lint)

    def say(phase: str):
        return lambda text: phases.say(phase, text)

    def check(first_failure: bool = False):
        return run_checks(lab, running_instance(lab.id, instance), reveal=True, record=False, first_failure=first_failure)

    if build:
        def do_build():
            tags = open_engine().ensure_images(check_images(lab), say("build"), lab.folder)
            return True, ", ".join(tags.values())

        if phases.run("build", "building images (cached)", do_build).failed:
            phases.skip(PHASES[PHASES.index("build") + 1:], "the images did not build")
            result.seconds = time.perf_counter() - started
            return result
    try:
        instance = instance or new_instance_name(lab.id)
    except Exception as err:  # noqa: BLE001 - the engine is gone: say so as the start phase
        phases.record(PhaseResult("start", FAILED, _error_text(err)))
        phases.skip(PHASES[PHASES.index("start") + 1:], "the lab did not start")
        result.seconds = time.perf_counter() - started
        return result
    result.instance = instance
    try:
        def do_start():
            inst = start_lab(lab, instance, progress=say("start"), record=False)
            if inst.already_running:
                raise LabsError(f"instance {inst.key} already existed; validation never reuses an instance")
            return True, f"{inst.key} is running: {', '.join(inst.services)}"

        started_ok = not phases.run("start", "starting the lab, prepared (setup)" if building else "starting the lab, broken", do_start).failed
        applied = {}

        def negative():
            report = check()
            total = len(report.objectives)
            if report.passed and building:
                return False, (f"all {total} objectives pass in a fresh environment, before anything was built: {lab.prepare} already "
                               "does the learner's work, or the checks test too little"), _objectives(report)
            if report.passed:
                return False, (f"all {total} objectives pass right after start, before any fix: {lab.prepare} does not break "
                               "what the checks test, or the checks test too little"), _objectives(report)
            before = "before anything is built" if building else "before the fix"
            return True, f"{len(report.failed)}/{total} objectives fail {before}, as they should", _objectives(report)

        def solution():
            applied["first"] = solve_lab(lab, instance, record=False)
            report = check()
            if not report.passed:
                return False, f"after solution.py, {len(report.failed)}/{len(report.objectives)} objectives still fail: {_failing(report)}", _objectives(report)
            return True, f"all {len(report.objectives)} objectives pass ({applied['first'].changed} operation(s) changed)", _objectives(report)

        def idempotence():
            again = solve_lab(lab, instance, record=False)
            if again.changed:
                where = "; ".join(again.changed_ops[:5]) + (f"; and {len(again.changed_ops) - 5} more" if len(again.changed_ops) > 5 else "")
                return False, (f"a second run of solution.py changed {again.changed} of {again.operations} operation(s) ({where}): "
                               "a solution must change nothing once applied; use operations that compare before they act, "
                               "and guard commands with _if=any_changed(...)")
            return True, f"a second run changed nothing ({again.operations} operation(s))"

        def reset():
            # A workspace the lab keeps holds the solution's files: validation resets to a clean start.
            reset_lab(lab, instance, progress=say("reset"), record=False, keep_workspace=False)
            report = check(first_failure=True)
            if report.passed:
                undone = "the built result" if building else "the faults"
                return False, (f"after reset, all {len(report.objectives)} objectives pass: reset does not bring {undone} back "
                               f"({lab.prepare} must act on a fresh container every time, without relying on state kept outside it)"), _objectives(report)
            return True, f"{report.failed[0].id} fails again after reset (checking stops at the first failure)", _objectives(report)

        def shortcuts():
            return try_shortcuts(lab, instance, lambda: check(first_failure=True), keep=keep, say=say("shortcuts"))

        steps = [
            ("negative-control", "a fresh environment must not already meet the objectives" if building else "checks must fail before the fix", negative),
            ("solution", "applying the reference solution; checks must pass", solution),
            ("idempotence", "applying the solution again; nothing may change", idempotence),
            ("reset", "resetting; checks must fail again", reset),
            ("shortcuts", "applying each known wrong fix to a fresh broken instance; checks must fail", shortcuts),
        ]
        for name, intro, body in steps:
            if name in skip:
                phases.skip([name], f"not run: --skip {name}")
            elif not started_ok:
                phases.skip([name], "not run: the lab did not start")
            elif keep and not result.ok:
                phases.skip([name], "not run: --keep stops at the first failure")
            elif name == "idempotence" and "first" not in applied:
                phases.skip([name], "not run: the solution did not apply")
            elif name == "shortcuts" and not read_shortcuts(lab.folder):
                phases.skip([name], "the lab ships no shortcuts/ (known wrong fixes the checks must reject)")
            else:
                phases.run(name, intro, body)

        if keep and started_ok and not result.ok:
            result.kept = True
            phases.record(PhaseResult("stop", SKIPPED, f"kept {lab.id}.{instance} running for inspection (--keep)"))
        else:
            phases.run("stop", "stopping; nothing labelled may remain", lambda: _stop_and_verify(lab.id, instance))
    except BaseException:
        if not result.phase("stop"):
            try:
                from orchestrator.lifecycle import stop_lab

                stop_lab(lab.id, instance, record=False)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        raise
    finally:
        result.seconds = time.perf_counter() - started
    return result


def try_shortcuts(lab: Lab, instance: str, check: Callable[[], CheckReport], *, keep: bool = False, say=lambda text: None):
    """The shortcuts phase: each known wrong fix applied to a fresh broken instance (the first
    one to the instance the reset phase left; a reset before each of the others); the checks
    must fail on every one. Returns (passed, message, None, cases), one case per shortcut."""
    from orchestrator.lifecycle import reset_lab, solve_lab
    from orchestrator.lint import read_shortcuts

    cases: list[dict] = []
    for index, shortcut in enumerate(read_shortcuts(lab.folder)):
        started = time.perf_counter()
        if index:
            say(f"resetting before shortcut {shortcut.name}")
            reset_lab(lab, instance, record=False, keep_workspace=False)
        say(f"applying shortcut {shortcut.name}: {shortcut.summary}")
        case = {"name": shortcut.name, "doc": shortcut.summary, "status": PASSED, "message": "", "caught_by": []}
        try:
            solve_lab(lab, instance, deploy=shortcut.path, record=False)
        except Exception as err:  # noqa: BLE001 - a shortcut that cannot apply fails its own case
            case.update(status=FAILED, message=f"the shortcut does not apply: {_error_text(err)}")
        else:
            report = check()
            case["caught_by"] = [o.id for o in report.failed]
            if report.passed:
                case.update(status=FAILED, message=f"every objective passes after this wrong fix ({shortcut.summary}): the checks accept it")
            else:
                case["message"] = f"rejected by {', '.join(case['caught_by'])}"
        case["seconds"] = round(time.perf_counter() - started, 2)
        cases.append(case)
        if _STOPPING.is_set() or (keep and case["status"] == FAILED):
            break
    failed = [c for c in cases if c["status"] == FAILED]
    if failed:
        return False, "; ".join(f"shortcut {c['name']}: {c['message']}" for c in failed), None, cases
    return True, f"{len(cases)} shortcut(s) rejected: " + "; ".join(f"{c['name']} ({c['message']})" for c in cases), None, cases


# --------------------------------------------------------------------------- worker processes


def worker_main(argv: list[str] | None = None) -> None:
    """Entry point of a worker process: validate one lab, stream JSON events on stdout.

    Events, one JSON object a line: ``{"event": "progress", ...}`` (an ``Event``),
    ``{"event": "phase", ...}`` (a ``PhaseResult``), and a final ``{"event": "done",
    "result": ...}``. Anything else the lab's code prints goes to stderr.
    """
    import warnings

    warnings.simplefilter("ignore")
    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(argv[0])

    def terminate(signum, frame):
        _STOPPING.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    events = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # stray prints (a deploy, a check) must not corrupt the event stream
    sys.stdout = sys.stderr

    def emit(kind: str, data: dict) -> None:
        events.write(json.dumps({"event": kind, **data}, default=str) + "\n")
        events.flush()

    from orchestrator.spec import load_lab

    code = 0
    try:
        lab = load_lab(Path(job["folder"]))
        result = validate_lab(
            lab,
            instance=job["instance"],
            keep=job.get("keep", False),
            skip=tuple(job.get("skip", ())),
            build=job.get("build", False),
            progress=lambda event: emit("progress", asdict(event)),
            on_phase=lambda phase: emit("phase", asdict(phase)),
        )
        emit("done", {"result": result.to_dict()})
    except (KeyboardInterrupt, Interrupted):
        code = 130
    except LabsError as err:
        emit("error", {"message": _error_text(err)})
        code = 1
    events.close()
    sys.exit(code)


@dataclass
class _Job:
    folder: Path
    lab: str
    instance: str
    lint: PhaseResult
    build: PhaseResult
    proc: subprocess.Popen | None = None


def _worker_env() -> dict[str, str]:
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


def _run_worker(job: _Job, keep: bool, skip: tuple[str, ...], timeout: float, progress: Progress, cancelled: threading.Event) -> LabValidation:
    """Run one lab's validation in a worker process; always returns a result."""
    spec = {"folder": str(job.folder), "instance": job.instance, "keep": keep, "skip": list(skip), "build": False}
    phases: list[PhaseResult] = [job.lint, job.build]
    current = {"phase": "start"}
    done: dict = {}
    started = time.perf_counter()
    if cancelled.is_set():
        return _worker_failed(job, phases, "start", "not run: validation was interrupted", started, progress)
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as stderr:
        command = [sys.executable, "-c", "from orchestrator.validate import worker_main; worker_main()", json.dumps(spec)]
        job.proc = proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL,
            env=_worker_env(), text=True, encoding="utf-8", start_new_session=True,
        )
        timed_out = threading.Event()

        def expire():
            timed_out.set()
            _terminate(proc)

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
        try:
            for line in proc.stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                kind = event.pop("event", None)
                if kind == "progress":
                    current["phase"] = event.get("phase", current["phase"])
                    if event.get("status") is None:
                        progress(Event(**event))
                elif kind == "phase":
                    phase = PhaseResult(**event)
                    phases.append(phase)
                    progress(Event(job.lab, phase.phase, phase.message, phase.status))
                elif kind == "done":
                    done["result"] = event["result"]
                elif kind == "error":
                    done["error"] = event["message"]
            proc.wait()
        finally:
            timer.cancel()
        if "result" in done:
            result = LabValidation.from_dict(done["result"])
            result.phases[:0] = [job.lint, job.build]
            result.seconds = time.perf_counter() - started
            return result
        if timed_out.is_set():
            why = f"timed out: the lab's validation took longer than {timeout:g} s (see --timeout)"
        elif cancelled.is_set():
            why = "interrupted"
        elif "error" in done:
            why = done["error"]
        else:
            stderr.seek(0)
            tail = "\n".join(stderr.read().strip().splitlines()[-12:])
            why = f"the validation worker exited with code {proc.returncode}" + (f":\n{tail}" if tail else "")
        return _worker_failed(job, phases, current["phase"], why, started, progress)


def _terminate(proc: subprocess.Popen) -> None:
    """SIGTERM (the worker stops its instance), then SIGKILL after a grace period."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(_STOP_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()
    except ProcessLookupError:
        pass


def _worker_failed(job: _Job, phases: list[PhaseResult], current: str, why: str, started: float, progress: Progress) -> LabValidation:
    """Finish a lab whose worker did not: fail its current phase, skip the rest, remove its instance."""
    result = LabValidation(job.lab, str(job.folder), job.instance, list(phases))
    seen = {p.phase for p in result.phases}
    if current in seen or current not in PHASES:
        current = next((p for p in PHASES if p not in seen), "stop")
    if current == "stop":  # it died while stopping: finish the stop here, and say both
        try:
            ok, message = _stop_and_verify(job.lab, job.instance)
            why += f"; then: {message}"
        except Exception as err:  # noqa: BLE001
            why += f"; then stopping failed: {_error_text(err)}"
    failed = PhaseResult(current, FAILED, _clip(why))
    result.phases.append(failed)
    progress(Event(job.lab, current, failed.message, FAILED))
    for name in PHASES[PHASES.index(current) + 1:]:
        if name == "stop":
            try:
                ok, message = _stop_and_verify(job.lab, job.instance)
                phase = PhaseResult("stop", PASSED if ok else FAILED, message)
            except Exception as err:  # noqa: BLE001
                phase = PhaseResult("stop", FAILED, _error_text(err))
        else:
            phase = PhaseResult(name, SKIPPED, f"not reached ({current} failed)")
        result.phases.append(phase)
        progress(Event(job.lab, phase.phase, phase.message, phase.status))
    result.seconds = time.perf_counter() - started
    return result


# --------------------------------------------------------------------------- many labs


def resolve_folders(names: list[str], all_labs: bool = False, labs_dir: Path | None = None) -> list[Path]:
    """Lab folders from ids (on the search path), folder paths, or every lab (``all_labs``)."""
    from orchestrator.catalog import Catalog

    catalog = Catalog.from_env(labs_dir)
    if all_labs and names:
        raise UsageError("give lab ids or --all, not both", "for example `labs validate nginx-misconfig` or `labs validate --all`")
    if all_labs:
        folders = list(catalog.folders().values())
        if not folders:
            raise UsageError(f"no labs found (searched {', '.join(str(d) for d in catalog.dirs)})", "create one with `labs new`")
        return folders
    found: list[Path] = []
    for name in names:
        path = Path(name)
        if (os.sep in name or name.startswith(".")) and path.is_dir():
            if not (path / "lab.yaml").is_file():
                raise UsageError(f"{name}: no lab.yaml in this folder", "give a lab folder, or a lab id from `labs list`")
            found.append(path.resolve())
            continue
        folders = catalog.folders()
        if name in folders:
            found.append(folders[name])
        elif (path / "lab.yaml").is_file():
            found.append(path.resolve())  # a lab folder in the current directory
        else:
            catalog.get(name)  # raises NotFound with suggestions
    return list(dict.fromkeys(found))


def estimated_seconds(folder: Path) -> float:
    """A static guess of how long validating a lab takes, to spread long labs over shards and
    start them first: each service, objective and shortcut costs time, and so do seed data.
    Read from the folder's text only (nothing of the lab runs)."""
    import re

    def size(path: Path) -> int:
        return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())

    spec = (folder / "lab.yaml").read_text(encoding="utf-8", errors="replace") if (folder / "lab.yaml").is_file() else ""
    services = len(re.findall(r"^\s+image:", spec, flags=re.M)) or 1
    suites = [p for p in folder.glob("test_*.py") if p.is_file()]
    objectives = sum(len(re.findall(r"^def test_", p.read_text(encoding="utf-8", errors="replace"), flags=re.M)) for p in suites)
    shortcuts = len(list((folder / "shortcuts").glob("*.py"))) if (folder / "shortcuts").is_dir() else 0
    data = size(folder / "files") / 2_000_000 if (folder / "files").exists() else 0
    return 20 + 6 * services + 2 * objectives + 10 * shortcuts + data


def select_shard(folders: list[Path], shard: str) -> list[Path]:
    """The labs of shard ``K/N``: a stable split where the longest labs (by
    ``estimated_seconds``) are dealt out first, each to the shard with the least work so far."""
    try:
        k_text, n_text = shard.split("/")
        k, n = int(k_text), int(n_text)
        if not 1 <= k <= n:
            raise ValueError
    except ValueError:
        raise UsageError(f"--shard {shard!r}: use K/N with 1 <= K <= N", "for example --shard 1/3") from None
    order = sorted(folders, key=lambda f: (-estimated_seconds(f), f.name))
    loads = [0.0] * n
    bins: list[list[Path]] = [[] for _ in range(n)]
    for folder in order:
        target = min(range(n), key=lambda i: (loads[i], i))
        bins[target].append(folder)
        loads[target] += estimated_seconds(folder)
    chosen = set(bins[k - 1])
    return [f for f in folders if f in chosen]


def changed_folders(folders: list[Path], ref: str, shared_images: Path | None = None) -> tuple[list[Path], str]:
    """The labs touched since git ``ref``: their folder, or a shared image they use, changed; a
    change to labs' own code (orchestrator/, checks/) touches every lab. Returns the labs and why."""
    import subprocess

    import yaml

    from orchestrator.paths import images_dir

    shared_images = shared_images or images_dir()
    root = shared_images.parent
    try:
        top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True, timeout=30).stdout.strip()
        changed = subprocess.run(["git", "-C", top, "diff", "--name-only", ref, "--"], capture_output=True, text=True, check=True, timeout=60).stdout.split()
        changed += subprocess.run(["git", "-C", top, "ls-files", "--others", "--exclude-standard"], capture_output=True, text=True, check=True, timeout=60).stdout.split()
    except (OSError, subprocess.SubprocessError) as err:
        detail = getattr(err, "stderr", "") or str(err)
        raise UsageError(f"--changed {ref}: git cannot compare with {ref!r}: {detail.strip()[:200]}", "run it inside a git clone and give a commit, branch or tag that exists") from None
    paths = [Path(top, name).resolve() for name in changed]
    if any(p.is_relative_to(Path(top, d).resolve()) for p in paths for d in ("orchestrator", "checks")):
        return list(folders), "labs' own code changed: every lab"
    touched = []
    for folder in folders:
        images: set[str] = set()
        try:
            raw = yaml.safe_load((folder / "lab.yaml").read_text(encoding="utf-8")) or {}
            images = {str(s.get("image")) for s in (raw.get("services") or {}).values() if isinstance(s, dict)}
        except (OSError, ValueError, yaml.YAMLError, AttributeError):
            pass
        shared = [shared_images / name for name in images]
        if any(p.is_relative_to(folder.resolve()) or any(p.is_relative_to(i.resolve()) for i in shared) for p in paths):
            touched.append(folder)
    return touched, f"{len(touched)} lab(s) changed since {ref}"


def _lint_phase(folder: Path, progress: Progress) -> tuple[PhaseResult, LintResult]:
    from orchestrator.lint import lint_folder

    progress(Event(folder.name, "lint", "checking the spec, files and suite"))
    started = time.perf_counter()
    result = lint_folder(folder)
    seconds = round(time.perf_counter() - started, 2)
    if result.ok:
        warned = f"; {len(result.warnings)} warning(s): " + "; ".join(str(w) for w in result.warnings) if result.warnings else ""
        phase = PhaseResult("lint", PASSED, _clip(f"{len(result.objectives)} objective(s){warned}"), seconds)
    else:
        phase = PhaseResult("lint", FAILED, _clip("; ".join(f"{p} ({p.fix})" if p.fix else str(p) for p in result.errors)), seconds)
    progress(Event(result.lab_id, "lint", phase.message, phase.status))
    return phase, result


def _build_all(labs: list[tuple[str, Path, list[str]]], progress: Progress) -> dict[tuple[Path, str], PhaseResult]:
    """Build each image context once, before any worker starts (two labs sharing an image
    never race to build it); returns a build phase per (lab folder, image name)."""
    from orchestrator.engine import open_engine
    from orchestrator.engine.images import image_context

    engine = open_engine()
    by_context: dict[Path, PhaseResult] = {}
    out: dict[tuple[Path, str], PhaseResult] = {}
    for lab, folder, images in labs:
        for name in images:
            started = time.perf_counter()
            try:
                context = image_context(name, folder)
                if context not in by_context:
                    tag = engine.ensure_image(name, lambda text, lab=lab: progress(Event(lab, "build", text)), folder)
                    seconds = round(time.perf_counter() - started, 2)
                    how = "present" if seconds < 1 else f"built in {seconds:g} s"
                    by_context[context] = PhaseResult("build", PASSED, f"{tag} ({how})", seconds)
                out[(folder, name)] = by_context[context]
            except LabsError as err:
                out[(folder, name)] = PhaseResult("build", FAILED, _clip(f"image {name}: {_error_text(err)}"), round(time.perf_counter() - started, 2))
    return out


def validate(
    folders: list[Path],
    *,
    jobs: int = 1,
    keep: bool = False,
    skip: tuple[str, ...] = (),
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress = _quiet,
) -> ValidationReport:
    """Validate every lab folder: lint them here, build their images once, then run
    ``jobs`` worker processes at a time, the longest labs first (``estimated_seconds``), so
    that no long lab starts last and runs alone. The report keeps the order of ``folders``.
    ``skip``: phases of SKIPPABLE to leave out of every lab."""
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: must be at least 1")
    unknown = [name for name in skip if name not in SKIPPABLE]
    if unknown:
        raise UsageError(f"--skip {unknown[0]}: not a phase that can be skipped", f"use one of: {', '.join(SKIPPABLE)}")
    started = time.perf_counter()
    results: dict[Path, LabValidation] = {}
    lints: dict[Path, tuple[PhaseResult, LintResult]] = {}
    for folder in folders:
        phase, lint = _lint_phase(folder, progress)
        lints[folder] = (phase, lint)
        if not lint.ok:
            result = LabValidation(lint.lab_id, str(folder), None, [phase])
            for name in PHASES[1:]:
                result.phases.append(PhaseResult(name, SKIPPED, "not run: lint failed"))
            results[folder] = result
    runnable = [f for f in folders if f not in results]
    if runnable:
        from orchestrator.engine import open_engine

        open_engine()  # EngineUnavailable here is one clear error, not a failure per lab
        builds = _build_all([(lints[f][1].lab_id, f, [*lints[f][1].images, PROBE_IMAGE]) for f in runnable], progress)
        job_list: list[_Job] = []
        for folder in runnable:
            lint_phase, lint = lints[folder]
            phases = [builds[(folder, i)] for i in [*lint.images, PROBE_IMAGE]]
            failed = [p for p in phases if p.failed]
            build = failed[0] if failed else PhaseResult(
                "build", PASSED, ", ".join(p.message for p in phases), round(sum(p.seconds for p in phases), 2)
            )
            if build.failed:
                result = LabValidation(lint.lab_id, str(folder), None, [lint_phase, build])
                result.phases += [PhaseResult(n, SKIPPED, "not run: the images did not build") for n in PHASES[2:]]
                progress(Event(lint.lab_id, "build", build.message, FAILED))
                results[folder] = result
                continue
            progress(Event(lint.lab_id, "build", build.message, PASSED))
            job_list.append(_Job(folder, lint.lab_id, new_instance_name(lint.lab_id), lint_phase, build))
        job_list.sort(key=lambda job: -estimated_seconds(job.folder))
        results.update(_run_jobs(job_list, jobs, keep, tuple(skip), timeout, progress))
    report = ValidationReport([results[f] for f in folders], jobs, time.perf_counter() - started)
    return report


def _run_jobs(job_list: list[_Job], jobs: int, keep: bool, skip: tuple[str, ...], timeout: float, progress: Progress) -> dict[Path, LabValidation]:
    cancelled = threading.Event()
    out: dict[Path, LabValidation] = {}
    if not job_list:
        return out
    pool = ThreadPoolExecutor(max_workers=min(jobs, len(job_list)), thread_name_prefix="labs-validate")
    futures = {pool.submit(_run_worker, job, keep, skip, timeout, progress, cancelled): job for job in job_list}
    try:
        for future, job in futures.items():
            while True:
                try:
                    out[job.folder] = future.result(timeout=0.2)
                    break
                except TimeoutError:
                    continue
    except KeyboardInterrupt:
        cancelled.set()
        for job in job_list:
            if job.proc is not None:
                threading.Thread(target=_terminate, args=(job.proc,), daemon=True).start()
        pool.shutdown(wait=True, cancel_futures=True)
        from orchestrator.lifecycle import stop_lab

        for job in job_list:  # whatever a worker could not remove, by label
            try:
                stop_lab(job.lab, job.instance, record=False)
            except Exception:  # noqa: BLE001 - best effort on the way out
                pass
        raise Interrupted("interrupted: validation stopped; every instance it started was removed") from None
    pool.shutdown(wait=True)
    return out


# --------------------------------------------------------------------------- JUnit XML


def junit_xml(report: ValidationReport) -> str:
    """JUnit XML: one testsuite per lab, one testcase per phase (what CI systems display)."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="labs validate", time=f"{report.seconds:.2f}")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for lab in report.labs:
        cases = [c for p in lab.phases for c in (p.cases or [])]
        failures = sum(1 for p in lab.phases if p.status == FAILED) + sum(1 for c in cases if c["status"] == FAILED)
        skipped = sum(1 for p in lab.phases if p.status == SKIPPED)
        suite = ET.SubElement(
            root, "testsuite", name=lab.lab, tests=str(len(lab.phases) + len(cases)), failures=str(failures),
            errors="0", skipped=str(skipped), time=f"{lab.seconds:.2f}",
        )
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="folder", value=lab.folder)
        ET.SubElement(props, "property", name="instance", value=lab.instance or "")
        for phase in lab.phases:
            case = ET.SubElement(suite, "testcase", classname=f"labs.{lab.lab}", name=phase_title(phase.phase, lab.kind), time=f"{phase.seconds:.2f}")
            if phase.status == FAILED:
                failure = ET.SubElement(case, "failure", message=phase.message.splitlines()[0][:500] if phase.message else "failed", type=f"labs.validate.{phase.phase}")
                failure.text = phase.message
            elif phase.status == SKIPPED:
                ET.SubElement(case, "skipped", message=phase.message)
            elif phase.message:
                ET.SubElement(case, "system-out").text = phase.message
            for shortcut in phase.cases or []:  # one test case per shortcut the lab ships
                sub = ET.SubElement(suite, "testcase", classname=f"labs.{lab.lab}.{phase.phase}", name=f"shortcut {shortcut['name']}", time=f"{shortcut.get('seconds', 0):.2f}")
                if shortcut["status"] == FAILED:
                    failure = ET.SubElement(sub, "failure", message=shortcut["message"][:500], type="labs.validate.shortcut")
                    failure.text = f"{shortcut.get('doc', '')}\n{shortcut['message']}"
                else:
                    ET.SubElement(sub, "system-out").text = f"{shortcut.get('doc', '')}\n{shortcut['message']}"
        totals["tests"] += len(lab.phases) + len(cases)
        totals["failures"] += failures
        totals["skipped"] += skipped
    for name, value in totals.items():
        root.set(name, str(value))
    root.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(report: ValidationReport, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(report), encoding="utf-8")
