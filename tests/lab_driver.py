"""Driving one lab instance through the real `labs` command, for the per-lab tests.

The lab tests share one pattern: start broken, check, solve, check again; apply each
alternative valid fix (through `labs shell`) and each known wrong fix (a shortcut deploy,
applied the way `labs validate` applies it) to a freshly reset instance, then check.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LABS_DIR = Path(__file__).resolve().parent.parent / "labs"


class LabDriver:
    def __init__(self, labs, lab: str, instance: str, service: str):
        self.labs, self.lab, self.instance, self.service = labs, lab, instance, service

    @classmethod
    def start(cls, labs, lab_instance, lab: str, instance: str, service: str) -> LabDriver:
        """Start a broken instance (removed by the ``lab_instance`` fixture afterwards)."""
        started = lab_instance(lab)
        assert started.returncode == 0, started.stdout + started.stderr
        return cls(labs, lab, instance, service)

    def check(self) -> tuple[dict, str]:
        """Objectives by id, and the command's output for assertion messages."""
        result, report = self.labs.json("check", self.lab, "--instance", self.instance, timeout=400)
        return {o["id"]: o for o in report["objectives"]}, result.stdout + result.stderr

    def failing(self) -> tuple[set[str], dict, str]:
        objectives, output = self.check()
        return {name for name, o in objectives.items() if not o["passed"]}, objectives, output

    def shell(self, script: str) -> None:
        result = self.labs("shell", self.lab, self.service, "--instance", self.instance, "--", "sh", "-c", script, timeout=180)
        assert result.returncode == 0, f"`{script}` failed: {result.stdout}{result.stderr}"

    def reset(self) -> None:
        result = self.labs("reset", self.lab, "--instance", self.instance, timeout=400)
        assert result.returncode == 0, result.stdout + result.stderr

    def apply(self, deploy: Path) -> None:
        """Apply a pyinfra deploy to the running instance (as `labs validate` applies a shortcut)."""
        code = (
            "import sys, pathlib; from orchestrator.lifecycle import running_instance; from orchestrator.provision import apply_deploy; "
            "apply_deploy(running_instance(sys.argv[1], sys.argv[2]), pathlib.Path(sys.argv[3]))"
        )
        result = subprocess.run([sys.executable, "-c", code, self.lab, self.instance, str(deploy)], capture_output=True, text=True, timeout=300, env=self.labs.env)
        assert result.returncode == 0, result.stdout + result.stderr

    def solve_and_pass(self) -> None:
        """The reference solution passes every objective, and a second run changes nothing."""
        solved, first = self.labs.json("solve", self.lab, "--instance", self.instance, timeout=400)
        assert solved.returncode == 0 and first["changed"] > 0, solved.stdout + solved.stderr
        failing, _, output = self.failing()
        assert not failing, output
        again, second = self.labs.json("solve", self.lab, "--instance", self.instance, timeout=400)
        assert again.returncode == 0 and second["changed"] == 0, f"the reference solution is not idempotent: {second}"

    def alternatives_pass(self, alternatives: dict[str, str]) -> None:
        """Each valid fix (a shell script), on a fresh broken instance, passes every objective."""
        for number, (label, script) in enumerate(alternatives.items()):
            if number:
                self.reset()
            self.shell(script)
            failing, _, output = self.failing()
            assert not failing, f"valid fix {label!r} was rejected:\n{output}"

    def shortcuts_fail(self, expected: dict[str, str]) -> None:
        """Each shortcut in the lab's shortcuts/, on a fresh broken instance, fails the objective named."""
        folder = LABS_DIR / self.lab / "shortcuts"
        assert {p.stem for p in folder.glob("*.py")} == set(expected)
        for number, (shortcut, objective) in enumerate(sorted(expected.items())):
            if number:
                self.reset()
            self.apply(folder / f"{shortcut}.py")
            failing, _, output = self.failing()
            assert objective in failing, f"shortcut {shortcut} was not caught by {objective}:\n{output}"
