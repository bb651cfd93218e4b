"""What the lab test files share: drive one test instance of a lab through the real `labs`
command (check, solve, shell into a service) and read the verdicts by objective id."""

from __future__ import annotations


class LabScenario:
    def __init__(self, labs, lab: str, instance: str, *, check_timeout: float = 400):
        self.labs, self.lab, self.instance, self.check_timeout = labs, lab, instance, check_timeout

    def check(self) -> dict:
        """Objective id -> its record (passed, message, ...) from `labs check --json`."""
        _, report = self.labs.json("check", self.lab, "--instance", self.instance, timeout=self.check_timeout)
        return {o["id"]: o for o in report["objectives"]}

    @staticmethod
    def failing(objectives: dict) -> set[str]:
        return {name for name, o in objectives.items() if not o["passed"]}

    def shell(self, service: str, script: str) -> None:
        """Run ``script`` in a service as a learner would: `labs shell LAB SERVICE -- sh -c ...`."""
        result = self.labs("shell", self.lab, service, "--instance", self.instance, "--", "sh", "-c", script, timeout=120)
        assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"

    def solve_passes_and_is_idempotent(self) -> None:
        """The reference solution makes every objective pass, and a second run changes nothing."""
        solved, first = self.labs.json("solve", self.lab, "--instance", self.instance)
        assert solved.returncode == 0, solved.stdout + solved.stderr
        assert first["changed"] > 0
        objectives = self.check()
        assert not self.failing(objectives), objectives
        again, second = self.labs.json("solve", self.lab, "--instance", self.instance)
        assert again.returncode == 0, again.stdout + again.stderr
        assert second["changed"] == 0, f"the reference solution is not idempotent: {second}"

    def fix_passes(self, steps: list[tuple[str, str]]) -> None:
        """Apply a learner's fix (service, script) step by step; every objective must pass."""
        for service, script in steps:
            self.shell(service, script)
        objectives = self.check()
        assert not self.failing(objectives), objectives
