"""Driving one lab instance through the real `labs` command, for the per-lab tests
(tests/test_lab_<id>.py): start it broken, apply a valid fix the way a learner would
(`labs shell LAB SERVICE -- sh -c ...`), check, and read the verdicts by objective id.

`labs validate` proves each lab broken at start, fixed by its solution, idempotent, re-broken
by reset and not fixed by its shortcuts; the lab tests add what it cannot: other valid fixes.
"""

from __future__ import annotations


class LabDriver:
    def __init__(self, labs, lab: str, instance: str, lab_instance=None, *, check_timeout: float = 900):
        self.labs, self.lab, self.instance = labs, lab, instance
        self.lab_instance, self.check_timeout = lab_instance, check_timeout

    def start(self) -> LabDriver:
        """Start a broken instance (removed by the ``lab_instance`` fixture afterwards)."""
        started = self.lab_instance(self.lab)
        assert started.returncode == 0, started.stdout + started.stderr
        return self

    def check(self) -> tuple[int, dict, str]:
        """The exit code, the objectives by id, and the command's output for assertion messages."""
        result, report = self.labs.json("check", self.lab, "--instance", self.instance, timeout=self.check_timeout)
        return result.returncode, {o["id"]: o for o in report["objectives"]}, result.stdout + result.stderr

    @staticmethod
    def failing(objectives: dict) -> set[str]:
        return {name for name, o in objectives.items() if not o["passed"]}

    def shell(self, service: str, script: str) -> None:
        """Run ``script`` in a service as a learner would."""
        result = self.labs("shell", self.lab, service, "--instance", self.instance, "--", "sh", "-c", script, timeout=300)
        assert result.returncode == 0, f"`{script}` in {service}: {result.stdout}{result.stderr}"

    def reset(self) -> None:
        result = self.labs("reset", self.lab, "--instance", self.instance, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr

    def fix_passes(self, steps: list[tuple[str, str]], label: str = "") -> None:
        """Apply a learner's fix, (service, script) step by step, to the running instance: every objective must pass."""
        for service, script in steps:
            self.shell(service, script)
        code, objectives, output = self.check()
        assert code == 0 and not self.failing(objectives), f"valid fix {label!r} was rejected:\n{output}"

    def alternative_passes(self, steps: list[tuple[str, str]]) -> None:
        """A fresh broken instance, then one valid fix: every objective must pass."""
        self.start().fix_passes(steps)

    def alternatives_pass(self, alternatives: dict[str, str], service: str) -> None:
        """Each valid fix (a script run in ``service``) on one instance, reset between them: each passes every objective."""
        self.start()
        for number, (label, script) in enumerate(alternatives.items()):
            if number:
                self.reset()
            self.fix_passes([(service, script)], label)
