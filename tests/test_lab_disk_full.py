"""The disk-full lab end to end on the real engine, through the real `labs` command.

Broken → uploads, space, rotation and restart objectives fail → the reference solution →
all pass → a second run changes nothing. Two other valid fixes pass (the shipper restarted
and a postrotate reopen; the deleted file truncated through /proc and copytruncate), and
the known wrong fixes in shortcuts/ fail.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

LAB = "disk-full"
SHORTCUTS = Path(__file__).resolve().parent.parent / "labs" / LAB / "shortcuts"
ALL = {"test_uploads_work", "test_space_is_back", "test_earlier_uploads_kept", "test_rotation_will_keep_space_free", "test_survives_restart"}


def _check(labs, name: str) -> tuple[dict, str]:
    result, report = labs.json("check", LAB, "--instance", name, timeout=300)
    return {o["id"]: o for o in report["objectives"]}, result.stdout + result.stderr


def _failing(objectives: dict) -> set[str]:
    return {name for name, o in objectives.items() if not o["passed"]}


def _shell(labs, name: str, script: str) -> None:
    result = labs("shell", LAB, "files", "--instance", name, "--", "sh", "-c", script, timeout=120)
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
    assert _failing(objectives) == ALL - {"test_earlier_uploads_kept"}, output
    assert "No space left on device" in objectives["test_uploads_work"]["message"]
    assert "still holds the deleted /srv/data/log/uploads.log.1" in objectives["test_space_is_back"]["message"]

    solved, first = labs.json("solve", LAB, "--instance", instance_name, timeout=300)
    assert solved.returncode == 0 and first["changed"] > 0, solved.stdout + solved.stderr
    objectives, output = _check(labs, instance_name)
    assert not _failing(objectives), output
    again, second = labs.json("solve", LAB, "--instance", instance_name, timeout=300)
    assert again.returncode == 0 and second["changed"] == 0, f"the reference solution is not idempotent: {second}"


POSTROTATE = r"""/srv/data/log/uploads.log {
    size 4M
    rotate 2
    compress
    delaycompress
    create 0644 uploads uploads
    postrotate
        sv hup /etc/service/uploads
    endscript
}
"""

ALTERNATIVES = {
    # the holder restarted; rotation renames and the service reopens its log on SIGHUP
    "restart-and-postrotate": (
        "sv restart /etc/service/shipper && : > /srv/data/log/uploads.log"
        f" && printf '%s' '{POSTROTATE}' > /etc/logrotate.d/uploads && ln -s /etc/sv/cron /etc/service/cron"
    ),
    # the deleted file emptied through the holder's descriptor; copytruncate; the old log kept off the disk
    "truncate-through-proc": (
        "for fd in /proc/[0-9]*/fd/*; do case \"$(readlink $fd)\" in *'(deleted)') : > $fd;; esac; done"
        " && gzip -c /srv/data/log/uploads.log > /var/tmp/uploads-before-incident.log.gz && truncate -s 0 /srv/data/log/uploads.log"
        " && sed -i -e 's#/srv/data/logs/#/srv/data/log/#' -e 's#create 0640 uploads uploads#copytruncate#' /etc/logrotate.d/uploads"
        " && ln -s /etc/sv/cron /etc/service/cron"
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
        "delete_the_log_again": "test_space_is_back",
        "stop_the_shipper": "test_space_is_back",
        "delete_uploads": "test_earlier_uploads_kept",
        "path_fixed_no_reopen": "test_rotation_will_keep_space_free",
    }
    assert {p.stem for p in SHORTCUTS.glob("*.py")} == set(expected)
    for number, (shortcut, objective) in enumerate(sorted(expected.items())):
        if number:
            _reset(labs, instance_name)
        _apply(labs, instance_name, SHORTCUTS / f"{shortcut}.py")
        objectives, output = _check(labs, instance_name)
        assert objective in _failing(objectives), f"shortcut {shortcut} was not caught by {objective}:\n{output}"
