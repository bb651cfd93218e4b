"""Build-style labs: the spec's kind, setup, workspace, stages and slow objectives, end to end.

Fixture labs come from `labs new --kind build` plus a small patch, on the real engine.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import Labs


@pytest.fixture
def build_lab(tmp_path, state_dir):
    """A fresh build lab from the scaffold, and a `labs` runner that finds it."""
    labs_dir = tmp_path / "labs"
    runner = Labs(state_dir, env={"LABS_PATH": str(labs_dir)})
    made = runner("new", "shipit", "--kind", "build", "--dir", str(labs_dir))
    assert made.returncode == 0, made.stderr
    return runner, labs_dir / "shipit"


def test_build_scaffold_lints_with_warnings_for_scaffold_text(build_lab):
    labs, folder = build_lab
    result, report = labs.json("lint", str(folder))
    assert result.returncode == 0, result.stdout + result.stderr
    text = json.dumps(report)
    assert "still the text `labs new` wrote" in text
    (folder / "briefing.md").write_text("# OPS-1 — ship the release page\n\nOur own ticket.\n")
    (folder / "SOLUTION.md").write_text("Our own explanation.\n")
    again = labs("lint", str(folder))
    assert again.returncode == 0 and "still the text" not in again.stdout


def test_build_spec_refuses_break_and_repair_refuses_setup(build_lab):
    labs, folder = build_lab
    spec = folder / "lab.yaml"
    spec.write_text(spec.read_text().replace("setup: setup.py", "break: setup.py"))
    result = labs("lint", str(folder))
    assert result.returncode == 2 and "setup" in result.stdout + result.stderr


@pytest.mark.docker
def test_build_lab_validates_with_build_phase_names(engine, build_lab, tmp_path):
    labs, folder = build_lab
    junit = tmp_path / "junit.xml"
    result, report = labs.json("validate", "shipit", "--junit", str(junit), timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    lab = report["labs"][0]
    assert lab["kind"] == "build"
    negative = next(p for p in lab["phases"] if p["phase"] == "negative-control")
    assert "before anything is built" in negative["message"]
    names = {case.get("name") for case in ET.parse(junit).getroot().iter("testcase")}
    assert {"fresh-not-already-built", "reference-build", "reset-to-prepared"} <= names


@pytest.mark.docker
def test_stages_workspace_and_slow_objective_line(engine, build_lab, instance_name):
    labs, folder = build_lab
    started = labs("start", "shipit", "--instance", instance_name)
    try:
        assert started.returncode == 0, started.stderr
        assert "ready for you to build on" in started.stdout and "your workspace: /workspace in service web" in started.stdout
        result, report = labs.json("check", "shipit", "--instance", instance_name)
        assert result.returncode == 1
        assert [s["id"] for s in report["stages"]] == ["serve", "persist"]
        assert report["current_stage"] == "serve"
        assert {o["id"]: o["stage"] for o in report["objectives"]}["test_survives_restart"] == "persist"
        # The slow objective announces its budget while it runs (a live line on a terminal).
        plain = labs("check", "shipit", "--instance", instance_name)
        assert plain.returncode == 1 and "may take up to 30 s" in plain.stderr, plain.stderr
        assert "stage 1/2: Serve the release page" in plain.stdout and "next: Keep it served" in plain.stdout
        hint, shown = labs.json("hint", "shipit", "--instance", instance_name)
        assert shown["stage"] == "serve" and "workspace" in shown["text"]
        # The learner's own file in the workspace survives a reset; the environment does not.
        wrote = labs("shell", "shipit", "web", "--instance", instance_name, "--", "sh", "-c", "echo mine > /workspace/notes.txt && touch /etc/nginx/learner-was-here")
        assert wrote.returncode == 0, wrote.stderr
        reset = labs("reset", "shipit", "--instance", instance_name)
        assert reset.returncode == 0 and "workspace" in reset.stdout, reset.stderr
        kept = labs("shell", "shipit", "web", "--instance", instance_name, "--", "sh", "-c", "cat /workspace/notes.txt; ls /etc/nginx/learner-was-here 2>&1 || true")
        assert "mine" in kept.stdout and "No such file" in kept.stdout
        # `--clear-workspace` starts over completely: the learner's file is gone too.
        cleared = labs("reset", "shipit", "--instance", instance_name, "--clear-workspace")
        assert cleared.returncode == 0 and "was kept" not in cleared.stdout, cleared.stderr
        gone = labs("shell", "shipit", "web", "--instance", instance_name, "--", "sh", "-c", "cat /workspace/notes.txt 2>&1 || true")
        assert "mine" not in gone.stdout and "No such file" in gone.stdout, gone.stdout
        solved = labs("solve", "shipit", "--instance", instance_name)
        assert solved.returncode == 0, solved.stderr
        result, report = labs.json("check", "shipit", "--instance", instance_name)
        assert result.returncode == 0 and report["current_stage"] is None, result.stdout
    finally:
        labs("stop", "shipit", "--instance", instance_name)


@pytest.mark.docker
def test_idempotence_failure_names_the_operation(engine, build_lab):
    labs, folder = build_lab
    solution = folder / "solution.py"
    solution.write_text(solution.read_text() + '\n    server.shell(name="Touch a stamp every time", commands=["date > /tmp/stamp"])\n')
    result, report = labs.json("validate", "shipit", timeout=600)
    assert result.returncode == 1
    phase = next(p for p in report["labs"][0]["phases"] if p["phase"] == "idempotence")
    assert phase["status"] == "failed" and "web: Touch a stamp every time" in phase["message"], phase
