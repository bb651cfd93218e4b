"""The runaway-process lab end to end on the real engine, through the real `labs` command.

Broken → the latency and respawn objectives fail → the reference solution → all pass → a
second run changes nothing. Two other valid fixes pass (a `down` file and the @reboot line
commented out; the runit link and the watchdog script removed), and the known wrong fixes
in shortcuts/ fail (kill it, disable runit only, everything but the @reboot line).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

LAB = "runaway-process"
SHORTCUTS = Path(__file__).resolve().parent.parent / "labs" / LAB / "shortcuts"
ALL = {"test_prices_fast", "test_prices_correct", "test_shop_code_unmodified", "test_nothing_restarts_it"}


def _check(labs, name: str) -> tuple[dict, str]:
    result, report = labs.json("check", LAB, "--instance", name, timeout=300)
    return {o["id"]: o for o in report["objectives"]}, result.stdout + result.stderr


def _failing(objectives: dict) -> set[str]:
    return {name for name, o in objectives.items() if not o["passed"]}


def _shell(labs, name: str, script: str) -> None:
    result = labs("shell", LAB, "web", "--instance", name, "--", "sh", "-c", script, timeout=120)
    assert result.returncode == 0, f"`{script}` failed: {result.stdout}{result.stderr}"


def _reset(labs, name: str) -> None:
    result = labs("reset", LAB, "--instance", name, timeout=400)
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
    assert _failing(objectives) == {"test_prices_fast", "test_nothing_restarts_it"}, output
    assert "feed-sync.py" in objectives["test_nothing_restarts_it"]["message"]

    solved, first = labs.json("solve", LAB, "--instance", instance_name, timeout=300)
    assert solved.returncode == 0 and first["changed"] > 0, solved.stdout + solved.stderr
    objectives, output = _check(labs, instance_name)
    assert not _failing(objectives), output
    again, second = labs.json("solve", LAB, "--instance", instance_name, timeout=300)
    assert again.returncode == 0 and second["changed"] == 0, f"the reference solution is not idempotent: {second}"


KILL = "pkill -f '[f]eed-sync-watchdog'; sleep 0.5; pkill -9 -f '[f]eed-sync[.]py'; true"
ALTERNATIVES = {
    # runit's `down` file, the @reboot line commented out, the running loop and copies ended
    "down-file-and-comment": (
        "touch /etc/sv/feed-sync/down && sv -w 20 force-stop /etc/service/feed-sync;"
        " sed -i 's|^@reboot|# retired (OPS-5120): @reboot|' /etc/cron.d/shop-maintenance && " + KILL
    ),
    # the service link and the watchdog script removed (the @reboot line then starts nothing)
    "remove-link-and-script": (
        "sv -w 20 force-stop /etc/service/feed-sync; rm /etc/service/feed-sync && rm /usr/local/sbin/feed-sync-watchdog && " + KILL
    ),
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
        "kill_it": "test_nothing_restarts_it",
        "runit_only": "test_nothing_restarts_it",
        "until_reboot": "test_nothing_restarts_it",
    }
    assert {p.stem for p in SHORTCUTS.glob("*.py")} == set(expected)
    for number, (shortcut, objective) in enumerate(sorted(expected.items())):
        if number:
            _reset(labs, instance_name)
        _apply(labs, instance_name, SHORTCUTS / f"{shortcut}.py")
        objectives, output = _check(labs, instance_name)
        assert objective in _failing(objectives), f"shortcut {shortcut} was not caught by {objective}:\n{output}"
