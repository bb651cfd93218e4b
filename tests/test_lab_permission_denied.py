"""The permission-denied lab end to end on the real engine, through the real `labs` command.

Broken → uploads, the publisher and the restart objectives fail → the reference solution →
all pass → a second run changes nothing. Two other valid fixes pass (the user's old uid back
with `media` as its primary group; default ACLs instead of setgid and umask), and the known
wrong fixes in shortcuts/ fail (world-open files, services running as root, the owner fixed
and nothing else).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

LAB = "permission-denied"
SHORTCUTS = Path(__file__).resolve().parent.parent / "labs" / LAB / "shortcuts"
ALL = {
    "test_upload_stored",
    "test_publisher_serves_new_upload",
    "test_publisher_serves_earlier_uploads",
    "test_uploads_private",
    "test_survives_restart",
}


def _check(labs, name: str) -> tuple[dict, str]:
    result, report = labs.json("check", LAB, "--instance", name, timeout=300)
    return {o["id"]: o for o in report["objectives"]}, result.stdout + result.stderr


def _failing(objectives: dict) -> set[str]:
    return {name for name, o in objectives.items() if not o["passed"]}


def _shell(labs, name: str, script: str) -> None:
    result = labs("shell", LAB, "media", "--instance", name, "--", "sh", "-c", script, timeout=120)
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
    assert set(objectives) == ALL, output
    assert _failing(objectives) == ALL - {"test_uploads_private"}, output
    assert "Permission denied" in objectives["test_upload_stored"]["message"]
    assert "hotfix-banner.jpg" in objectives["test_publisher_serves_earlier_uploads"]["message"]

    solved, first = labs.json("solve", LAB, "--instance", instance_name, timeout=300)
    assert solved.returncode == 0 and first["changed"] > 0, solved.stdout + solved.stderr
    objectives, output = _check(labs, instance_name)
    assert not _failing(objectives), output
    again, second = labs.json("solve", LAB, "--instance", instance_name, timeout=300)
    assert again.returncode == 0 and second["changed"] == 0, f"the reference solution is not idempotent: {second}"


ALTERNATIVES = {
    # the user gets its old uid back, `media` becomes its primary group, the umask lets the group read
    "old-uid-primary-group": (
        "sv stop /etc/service/uploads && usermod -u 1500 uploads && usermod -g media uploads"
        " && chown uploads:media /srv/media/uploads/hotfix-banner.jpg && chmod 640 /srv/media/uploads/hotfix-banner.jpg"
        " && sed -i 's/^umask 077$/umask 027/' /etc/sv/uploads/run && sv start /etc/service/uploads"
    ),
    # default ACLs give the media group read access to every new file; umask 077 stays
    "default-acl": (
        "chown -R uploads /srv/media/uploads && setfacl -R -m g:media:rX /srv/media/uploads"
        " && setfacl -d -m g:media:rX /srv/media/uploads && sv restart /etc/service/uploads"
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
        "chmod_777": "test_uploads_private",
        "run_as_root": "test_uploads_private",
        "owner_only": "test_publisher_serves_new_upload",
        "publisher_as_root": "test_uploads_private",
    }
    assert {p.stem for p in SHORTCUTS.glob("*.py")} == set(expected)
    for number, (shortcut, objective) in enumerate(sorted(expected.items())):
        if number:
            _reset(labs, instance_name)
        _apply(labs, instance_name, SHORTCUTS / f"{shortcut}.py")
        objectives, output = _check(labs, instance_name)
        assert objective in _failing(objectives), f"shortcut {shortcut} was not caught by {objective}:\n{output}"
