"""Objectives for cron-never-runs: cron runs the report job on its own, every minute, after a restart.

One wait per check run: the module fixture restarts every service (a job started by hand
does not survive that), then waits up to 75 s for cron's next run of the report job and
keeps what it saw; the objectives judge that one run. Files are read through the engine,
processes listed by a pristine probe in the container's pid namespace, and the report's
numbers traced to a token the real stats API logged (the container's log) after the restart.
It fails at once, without waiting, when no cron source it would load holds a job of the
learner's, or when cron is not running.
"""

from __future__ import annotations

import json
import re
import stat
import time
from dataclasses import dataclass

import pytest

SERVICE = "reports"
REPORT = "/srv/reports/report.json"
WAIT = 75
DEFAULT_JOBS = ("run-parts", "e2scrub", "anacron")  # what the image's own crontabs run
JOB_LINE = re.compile(r"^\s*(@\w+|(\S+\s+){4}\S+)\s+\S")


@dataclass
class Run:
    problem: str | None  # why no valid scheduled run was seen (None: one was)
    report: dict | None = None
    since: float = 0.0


def _job_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if JOB_LINE.match(line) and not line.lstrip().startswith("#") and "=" not in line.split()[0]]


def _loadable_jobs(lab) -> tuple[list[str], list[str]]:
    """Job lines cron would load (beyond the image's own), and why other files are skipped.
    Lenient on purpose: only the rules cron is certain to apply."""
    jobs, skipped = [], []
    sources = []
    crontab = lab.read_file(SERVICE, "/etc/crontab")
    if crontab is not None:
        sources.append((crontab, True))
    for folder, system in (("/etc/cron.d", True), ("/var/spool/cron/crontabs", False)):
        sources += [(entry, system) for entry in lab.walk(SERVICE, folder)[1:] if entry.kind == "file"]
    for entry, system in sources:
        text = (entry.content or b"").decode("utf-8", "replace")
        if system and (stat.S_IMODE(entry.mode) & 0o022 or entry.uid != 0):
            skipped.append(f"{entry.path} (owner uid {entry.uid}, mode {stat.S_IMODE(entry.mode):04o})")
            continue
        if text and not text.endswith("\n"):
            skipped.append(f"{entry.path} (its last line does not end)")
            continue
        jobs += [f"{entry.path}: {line.strip()}" for line in _job_lines(text) if not any(d in line for d in DEFAULT_JOBS)]
    return jobs, skipped


def _cron_running(lab) -> bool:
    result = lab.probe(["ps", "-eo", "comm="], image="probe", service=SERVICE, pid=True, timeout=20)
    return any(name.strip() == "cron" for name in result.stdout.splitlines())


def _report(lab) -> dict | None:
    info = lab.read_file(SERVICE, REPORT)
    if info is None or info.kind != "file" or not info.content:
        return None
    try:
        answer = json.loads(info.content)
    except ValueError:
        return {"_invalid": info.content[:80].decode("utf-8", "replace")}
    return answer if isinstance(answer, dict) else {"_invalid": repr(answer)[:80]}


@pytest.fixture(scope="module")
def scheduled_run(lab) -> Run:
    since = time.time()
    lab.restart_all()
    jobs, skipped = _loadable_jobs(lab)
    if not jobs:
        why = f"; cron skips {', '.join(skipped[:3])}" if skipped else ""
        return Run(f"no crontab that cron would load holds a job (only the system's own){why} — cron's own messages are in /var/log/syslog", since=since)
    if not _cron_running(lab):
        return Run("after a restart no cron process is running in the reports container — look at how cron is started (runit: /etc/service)", since=since)

    def fresh():
        report = _report(lab)
        if report is None or "_invalid" in report:
            return report if report and time.time() - since > 5 else None
        return report if float(report.get("generated_at") or 0) >= since else None

    report = lab.wait_for(fresh, what="waiting for cron's next run of the report job (at the top of each minute)", seconds=WAIT, every=2)
    if report is None:
        return Run(f"no new {REPORT} appeared within {WAIT} s of a restart; cron would load {jobs[0]!r} — look at /var/log/syslog "
                   "and at what the job itself printed (where its output goes)", since=since)
    return Run(None, report, since)


@pytest.mark.budget(WAIT + 30)
def test_report_written_on_schedule(lab, scheduled_run):
    """After a restart, cron runs the report job on its own within a minute"""
    assert scheduled_run.problem is None, scheduled_run.problem


def test_report_for_this_site(lab, scheduled_run):
    """The scheduled report is valid JSON for this site"""
    assert scheduled_run.problem is None, f"no scheduled report to look at: {scheduled_run.problem}"
    report = scheduled_run.report
    assert "_invalid" not in report, f"{REPORT} is not a JSON object: {report['_invalid']!r}"
    site = lab.values["site_code"]
    assert report.get("site") == site, f"the report is for site {report.get('site')!r}, not this site — look at where the job gets its site code"


def test_report_has_fresh_numbers(lab, scheduled_run):
    """The scheduled report carries fresh numbers from the stats API"""
    assert scheduled_run.problem is None, f"no scheduled report to look at: {scheduled_run.problem}"
    stats = scheduled_run.report.get("stats") or {}
    token = str(stats.get("token") or "")
    issued = re.findall(r"issued token ([0-9a-f]+)", lab.logs(SERVICE, since=scheduled_run.since - 1))
    assert token and token in issued, (
        f"the report's numbers (token {token[:8] or 'none'}…) were not handed out by the stats API since the restart "
        f"(it issued {len(issued)} token(s) since then) — the report must come from a live run of report-build"
    )


def test_report_tools_unmodified(lab):
    """The report tool and the stats API are the shipped ones"""
    problems = lab.integrity(SERVICE, paths=["/opt/report", "/opt/labs"])
    assert not problems, "; ".join(problems[:3]) + " — fix how the job is scheduled and run, not the tools"
