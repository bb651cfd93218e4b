"""The end-to-end flow the catalogue labs' tests share (tests/test_lab_<id>.py).

Broken → the expected objectives fail → the reference solution passes and is
idempotent; alternative valid fixes, applied through `labs shell` as a learner
would, pass; each shortcut (a known wrong fix in the lab's shortcuts/), applied
to a freshly broken instance, fails on the objective it should.
"""

from __future__ import annotations

from pathlib import Path

LABS = Path(__file__).resolve().parent.parent / "labs"


class LabFlow:
    def __init__(self, labs, lab_instance, lab_id: str, name: str):
        self.labs, self.lab_instance, self.lab_id, self.name = labs, lab_instance, lab_id, name

    def start(self) -> None:
        started = self.lab_instance(self.lab_id)
        assert started.returncode == 0, started.stdout + started.stderr

    def check(self) -> tuple[int, dict, str]:
        result, report = self.labs.json("check", self.lab_id, "--instance", self.name, timeout=900)
        return result.returncode, {o["id"]: o for o in report["objectives"]}, result.stdout + result.stderr

    @staticmethod
    def failing(objectives: dict) -> set[str]:
        return {name for name, o in objectives.items() if not o["passed"]}

    def shell(self, service: str, script: str) -> None:
        result = self.labs("shell", self.lab_id, service, "--instance", self.name, "--", "sh", "-c", script, timeout=300)
        assert result.returncode == 0, f"`{script}` in {service}: {result.stdout}{result.stderr}"

    def broken_fails(self, expected_failing: set[str]) -> dict:
        code, objectives, output = self.check()
        assert code == 1, output
        assert expected_failing <= self.failing(objectives), output
        return objectives

    def solved_and_idempotent(self) -> None:
        solved = self.labs("solve", self.lab_id, "--instance", self.name, timeout=600)
        assert solved.returncode == 0, solved.stdout + solved.stderr
        code, objectives, output = self.check()
        assert code == 0 and not self.failing(objectives), output
        again, second = self.labs.json("solve", self.lab_id, "--instance", self.name, timeout=600)
        assert again.returncode == 0, again.stdout + again.stderr
        assert second["changed"] == 0, f"the reference solution is not idempotent: {second}"

    def alternative_passes(self, steps: list[tuple[str, str]]) -> None:
        self.start()
        for service, script in steps:
            self.shell(service, script)
        code, objectives, output = self.check()
        assert code == 0 and not self.failing(objectives), output

    def shortcuts_fail(self, expected: dict[str, str]) -> None:
        """Each shortcut on a freshly broken instance: the checks fail, on the expected objective."""
        from orchestrator.lifecycle import running_instance
        from orchestrator.provision import apply_deploy

        folder = LABS / self.lab_id / "shortcuts"
        assert {p.stem for p in folder.glob("*.py")} == set(expected)
        self.start()
        for index, (shortcut, objective) in enumerate(sorted(expected.items())):
            if index:
                reset = self.labs("reset", self.lab_id, "--instance", self.name, timeout=600)
                assert reset.returncode == 0, reset.stdout + reset.stderr
            apply_deploy(running_instance(self.lab_id, self.name), folder / f"{shortcut}.py")
            code, objectives, output = self.check()
            assert code == 1, f"shortcut {shortcut} passed every objective:\n{output}"
            assert objective in self.failing(objectives), f"shortcut {shortcut} should fail {objective}:\n{output}"
