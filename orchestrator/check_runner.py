"""Running a lab's testinfra suite in-process and collecting one verdict per objective.

Each test of a lab's suite is an objective: its docstring's first line (or its
name) is what the learner reads, and its assertion message is what the probe
saw and where to look. An objective marked ``@pytest.mark.discovery("what remains")`` is a
search (every place a secret leaks, every copy of a file): when it fails the learner reads
only that something remains, never the list of places, unless the caller asks to ``reveal``
it (``labs validate`` does, for authors). pytest runs inside this process (no interpreter
start-up), with plugin autoloading off so nothing else on the machine changes
the run.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from orchestrator.errors import LabsError
from orchestrator.objectives import objective_title
from orchestrator.engine.instances import LabInstance
from orchestrator.spec import Lab


@dataclass
class Objective:
    id: str  # the test's name
    title: str  # what the learner reads
    passed: bool
    outcome: str  # passed, failed, error, skipped
    message: str = ""  # for a failure: what the probe saw, and where to look
    seconds: float = 0.0
    stage: str | None = None  # the stage it belongs to (``@pytest.mark.stage("id")``), if any
    discovery: bool = False  # a search objective: its failure says that something remains, not where


@dataclass
class CheckReport:
    lab: str
    instance: str
    objectives: list[Objective] = field(default_factory=list)
    seconds: float = 0.0
    stages: list[dict] = field(default_factory=list)  # the lab's stages in order: id, title, passed, total

    @property
    def current_stage(self) -> dict | None:
        """The first stage with an objective still failing (None when every stage is done)."""
        return next((stage for stage in self.stages if stage["passed"] < stage["total"]), None)

    @property
    def next_stage(self) -> dict | None:
        current = self.current_stage
        if current is None:
            return None
        index = self.stages.index(current)
        return self.stages[index + 1] if index + 1 < len(self.stages) else None

    @property
    def passed(self) -> bool:
        return bool(self.objectives) and all(o.passed for o in self.objectives)

    @property
    def failed(self) -> list[Objective]:
        return [o for o in self.objectives if not o.passed]

    def to_dict(self) -> dict:
        return {
            "lab": self.lab,
            "instance": self.instance,
            "passed": self.passed,
            "seconds": round(self.seconds, 3),
            "objectives": [asdict(o) for o in self.objectives],
            "stages": self.stages,
            "current_stage": (self.current_stage or {}).get("id"),
        }

    def add_stages(self, lab: Lab) -> None:
        """Count each stage's passing objectives, in the lab's order."""
        self.stages = []
        for stage in lab.stages:
            members = [o for o in self.objectives if o.stage == stage.id]
            self.stages.append({"id": stage.id, "title": stage.title, "passed": sum(o.passed for o in members), "total": len(members)})


def _failure_message(report) -> str:
    longrepr = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(longrepr)
    text = re.sub(r"^(AssertionError|Failed): ", "", text)
    # Keep the author's message; drop pytest's rewritten "assert ..." detail.
    lines = []
    for line in text.splitlines():
        if line.startswith("assert ") or line.startswith("+  where") or line.startswith(" +"):
            break
        lines.append(line)
    message = "\n".join(lines).strip()
    if report.when == "setup":
        message = f"could not set up the check: {message}"
    return message or "failed (no message)"


DISCOVERY_VERDICT = "something still remains — keep looking"


class _Collector:
    """A pytest plugin object that records each test's outcome."""

    def __init__(self, context, progress=None, reveal: bool = False):
        self.context = context
        self.progress = progress
        self.reveal = reveal
        self.discovery: dict[str, str] = {}  # nodeid -> the verdict a failing search objective shows
        self.docs: dict[str, str | None] = {}
        self.names: dict[str, str] = {}
        self.stages: dict[str, str | None] = {}
        self.budgets: dict[str, float] = {}
        self.results: dict[str, Objective] = {}
        self.collect_errors: list[str] = []

    def pytest_configure(self, config):
        from checks.plugin import CONTEXT_KEY

        if self.context is not None:
            config.stash[CONTEXT_KEY] = self.context

    def pytest_collection_modifyitems(self, items):
        for item in items:
            function = getattr(item, "function", None)
            self.docs[item.nodeid] = getattr(function, "__doc__", None)
            self.names[item.nodeid] = item.name
            marker = item.get_closest_marker("discovery")
            if marker is not None:
                self.discovery[item.nodeid] = str(marker.args[0]) if marker.args else DISCOVERY_VERDICT
            stage = item.get_closest_marker("stage")
            self.stages[item.nodeid] = str(stage.args[0]) if stage and stage.args else None
            budget = item.get_closest_marker("budget")
            if budget and budget.args:
                self.budgets[item.nodeid] = float(budget.args[0])

    def pytest_runtest_logstart(self, nodeid, location):
        if self.progress is None:
            return
        title = objective_title(self.names.get(nodeid, nodeid), self.docs.get(nodeid))
        budget = self.budgets.get(nodeid)
        self.progress(f"checking: {title}" + (f" (may take up to {budget:g} s)" if budget else ""))

    def pytest_collectreport(self, report):
        if report.failed:
            self.collect_errors.append(str(report.longrepr).strip().splitlines()[-1])

    def pytest_runtest_logreport(self, report):
        nodeid = report.nodeid
        if report.when == "call" or (report.when == "setup" and not report.passed):
            name = self.names.get(nodeid, nodeid.split("::")[-1])
            passed = report.passed
            outcome = "passed" if passed else ("skipped" if report.skipped else ("failed" if report.when == "call" else "error"))
            self.results[nodeid] = Objective(
                id=name,
                title=objective_title(name, self.docs.get(nodeid)),
                passed=passed,
                outcome=outcome,
                message="" if passed else (_skip_reason(report) if report.skipped else self._verdict(nodeid, report)),
                seconds=round(report.duration, 3),
                stage=self.stages.get(nodeid),
                discovery=nodeid in self.discovery,
            )
        elif report.when == "teardown" and report.failed and nodeid in self.results:
            self.results[nodeid].passed = False
            self.results[nodeid].outcome = "error"
            self.results[nodeid].message = f"cleanup after the check failed: {_failure_message(report)}"


    def _verdict(self, nodeid: str, report) -> str:
        detail = _failure_message(report)
        if nodeid not in self.discovery or report.when != "call":
            return detail
        return f"{self.discovery[nodeid]}\n(found: {detail})" if self.reveal else self.discovery[nodeid]


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return f"skipped: {longrepr[2].removeprefix('Skipped: ')}"
    return "skipped"


def forget_suite_modules(folder: Path) -> None:
    """Drop modules imported from ``folder``: pytest's importlib mode caches them by file name,
    so another lab's ``test_objectives`` would otherwise be taken for this one's."""
    folder = Path(folder).resolve()
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file:
            try:
                Path(file).resolve().relative_to(folder)
            except (ValueError, OSError):
                continue
            del sys.modules[name]


def run_suite(lab: Lab, key: str, context=None, extra_args: list[str] | None = None, *, progress=None, reveal: bool = False) -> CheckReport:
    """Run the suite of ``lab`` against instance ``key`` and return every objective's verdict.
    ``progress`` (optional) hears which objective runs and what a slow one waits for;
    ``reveal``: failing discovery objectives say what they found, for authors."""
    import pytest

    suite = lab.path(lab.suite)
    collector = _Collector(context, progress, reveal)
    if context is not None and progress is not None:
        context.progress = progress
    args = [
        str(suite),
        "-p", "checks.plugin",
        "--labs-instance", key,
        "-p", "no:cacheprovider", "-p", "no:terminal", "-p", "no:warnings",
        # Only the lab folder: no conftest.py above it (or anywhere else) is ever imported.
        "--rootdir", str(lab.folder), "-c", os.devnull, "--confcutdir", str(lab.folder),
        "--import-mode=importlib",
        *(extra_args or []),
    ]
    previous = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    started = time.perf_counter()
    try:
        code = pytest.main(args, plugins=[collector])
    finally:
        forget_suite_modules(lab.folder)
        if previous is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = previous
    if code == pytest.ExitCode.INTERRUPTED:
        raise KeyboardInterrupt  # pytest caught Ctrl-C; partial verdicts would mislead
    report = CheckReport(lab.id, key, list(collector.results.values()), time.perf_counter() - started)
    report.add_stages(lab)
    if collector.collect_errors:
        raise LabsError(f"the check suite {suite} does not load: {collector.collect_errors[0]}", f"fix {suite}")
    if not report.objectives:
        raise LabsError(f"the check suite {suite} has no objectives (pytest exit {int(code)})", "add test_ functions to the suite")
    return report


def run_checks(lab: Lab, instance: LabInstance, *, progress=None, reveal: bool = False, record: bool = True,
               first_failure: bool = False) -> CheckReport:
    """Check a running instance of ``lab``: one verdict per objective of its suite, kept in
    the history of attempts unless ``record`` is false (validation). ``first_failure`` stops
    at the first failing objective (validation only needs to know that one fails)."""
    from checks.context import LabContext
    from orchestrator.engine.client import connect

    # Reuse the connection the instance was found with; connect only for an instance with no containers.
    client = next(iter(instance.containers.values())).client if instance.containers else connect()
    context = LabContext(client, instance, lab)
    report = run_suite(lab, instance.key, context, ["-x"] if first_failure else None, progress=progress, reveal=reveal)
    if record:
        from orchestrator.history import check_verdicts, record as keep

        keep("check", instance.key, verdicts=check_verdicts(report), detail={"seconds": round(report.seconds, 3)})
        if lab.stages:  # hints follow the stage the check reached
            from orchestrator.progress import remember_stage

            remember_stage(instance.key, (report.current_stage or {}).get("id"))
    return report
