"""The cron-never-runs lab end to end on the real engine, through the real `labs` command.

Broken → the scheduled-report objectives fail at once (cron would load no job) → the
reference solution → all pass after cron's next run → a second run changes nothing. Two
other valid fixes pass (root's own crontab with its environment set there; a line in
/etc/crontab that reads the settings file), and the known wrong fixes in shortcuts/ fail
(a static report, a loop started by hand, the file rules fixed but not the environment).
Each passing check waits for the top of a minute, so this file takes several minutes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

LAB = "cron-never-runs"
SHORTCUTS = Path(__file__).resolve().parent.parent / "labs" / LAB / "shortcuts"
SCHEDULED = {"test_report_written_on_schedule", "test_report_for_this_site", "test_report_has_fresh_numbers"}


def _check(labs, name: str) -> tuple[dict, str]:
    result, report = labs.json("check", LAB, "--instance", name, timeout=300)
    return {o["id"]: o for o in report["objectives"]}, result.stdout + result.stderr


def _failing(objectives: dict) -> set[str]:
    return {name for name, o in objectives.items() if not o["passed"]}


def _shell(labs, name: str, script: str) -> None:
    result = labs("shell", LAB, "reports", "--instance", name, "--", "sh", "-c", script, timeout=120)
    assert result.returncode == 0, f"`{script}` failed: {result.stdout}{result.stderr}"


def _reset(labs, name: str) -> None:
    result = labs("reset", LAB, "--instance", name, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def _apply(labs, name: str, deploy: Path) -> None:
    """Apply a pyinfra deploy to the running instance (as `labs validate` applies a shortcut)."""
    code = (
        "import sys; from orchestrator.lifecycle import running_instance; from orchestrator.provision import apply_deploy; "
        "apply_deploy(running_instance(sys.argv[1], sys.argv[2]), __import__('pathlib').Path(sys.argv[3]))"
    )
    result = subprocess.run([sys.executable, "-c", code, LAB, name, str(deploy)], capture_output=True, text=True, timeout=300, env=labs.env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_broken_then_solved_and_idempotent(labs, lab_instance, instance_name):
    started = lab_instance(LAB)
    assert started.returncode == 0, started.stdout + started.stderr
    objectives, output = _check(labs, instance_name)
    assert _failing(objectives) == SCHEDULED, output
    assert "/etc/cron.d/warehouse-report" in objectives["test_report_written_on_schedule"]["message"]

    solved, first = labs.json("solve", LAB, "--instance", instance_name, timeout=300)
    assert solved.returncode == 0 and first["changed"] > 0, solved.stdout + solved.stderr
    objectives, output = _check(labs, instance_name)
    assert not _failing(objectives), output
    again, second = labs.json("solve", LAB, "--instance", instance_name, timeout=300)
    assert again.returncode == 0 and second["changed"] == 0, f"the reference solution is not idempotent: {second}"


ALTERNATIVES = {
    # root's own crontab (no user field), its environment set in the crontab
    "root-crontab": (
        ". /etc/warehouse/report.env && printf 'PATH=/usr/bin:/bin:/opt/report/bin\\nREPORT_SITE=%s\\n* * * * * report-build\\n' \"$REPORT_SITE\" | crontab -"
    ),
    # a line in /etc/crontab with an absolute path, the settings read from their file
    "etc-crontab": "echo '* * * * * root env $(grep -v \"^#\" /etc/warehouse/report.env) /opt/report/bin/report-build' >> /etc/crontab",
}


def test_alternative_fixes_pass(labs, lab_instance, instance_name):
    started = lab_instance(LAB)
    assert started.returncode == 0, started.stdout + started.stderr
    for number, (label, script) in enumerate(ALTERNATIVES.items()):
        if number:
            _reset(labs, instance_name)
        _shell(labs, instance_name, script)
        objectives, output = _check(labs, instance_name)
        assert not _failing(objectives), f"valid fix {label!r} was rejected:\n{output}"


def test_shortcuts_fail(labs, lab_instance, instance_name):
    started = lab_instance(LAB)
    assert started.returncode == 0, started.stdout + started.stderr
    expected = {
        "static_report": "test_report_has_fresh_numbers",
        "loop_by_hand": "test_report_written_on_schedule",
        "file_rules_only": "test_report_written_on_schedule",
    }
    assert {p.stem for p in SHORTCUTS.glob("*.py")} == set(expected)
    for number, (shortcut, objective) in enumerate(sorted(expected.items())):
        if number:
            _reset(labs, instance_name)
        _apply(labs, instance_name, SHORTCUTS / f"{shortcut}.py")
        objectives, output = _check(labs, instance_name)
        assert objective in _failing(objectives), f"shortcut {shortcut} was not caught by {objective}:\n{output}"
