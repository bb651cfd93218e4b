"""The CLI's error paths: one clear message, the documented exit code, never a traceback.

These run the real `labs` command; those that need no engine run anywhere.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

SHIPPED = Path(__file__).resolve().parent.parent / "labs"


def _one_clean_error(result, code: int) -> str:
    assert result.returncode == code, f"exit {result.returncode}, wanted {code}:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr + result.stdout
    assert "error:" in result.stderr
    return result.stderr


def test_version(labs):
    result = labs("--version")
    assert result.returncode == 0 and result.stdout.startswith("labs ")


def test_help_lists_commands(labs):
    result = labs("--help")
    assert result.returncode == 0
    for command in ("start", "check", "shell", "logs", "hint", "solve", "reset", "stop", "status", "doctor", "list", "info"):
        assert command in result.stdout


def test_unknown_lab_suggests_close_names(labs):
    stderr = _one_clean_error(labs("start", "nginx-misconfg"), 3)
    assert "no lab named 'nginx-misconfg'" in stderr
    assert "did you mean: nginx-misconfig" in stderr


def test_unknown_lab_json(labs):
    result, data = labs.json("info", "nope")
    assert result.returncode == 3 and data["exit_code"] == 3 and "nope" in data["error"]


def test_invalid_spec_is_exit_2_with_file_and_field(labs, tmp_path):
    broken = tmp_path / "nginx-misconfig"
    shutil.copytree(SHIPPED / "nginx-misconfig", broken)
    spec = broken / "lab.yaml"
    spec.write_text(spec.read_text().replace("minutes: 20", "minutes: soon"))
    stderr = _one_clean_error(labs("info", "nginx-misconfig", "--labs-dir", str(tmp_path)), 2)
    assert f"{spec}: minutes:" in stderr


def test_missing_labs_dir(labs, tmp_path):
    stderr = _one_clean_error(labs("list", "--labs-dir", str(tmp_path / "nope")), 2)
    assert "no such folder" in stderr


def test_labs_path_adds_instructor_labs(labs, tmp_path):
    own = tmp_path / "mine"
    own.mkdir()
    shutil.copytree(SHIPPED / "nginx-misconfig", own / "nginx-misconfig")
    result, rows = labs.json("list", env={"LABS_PATH": str(own)})
    assert result.returncode == 0
    folders = {r["lab"]: r["folder"] for r in rows["labs"]}
    assert folders["nginx-misconfig"] == str(own / "nginx-misconfig")


def test_engine_unreachable_is_exit_4(labs, tmp_path):
    env = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    stderr = _one_clean_error(labs("status", env=env), 4)
    assert "Docker engine not reachable" in stderr and "labs doctor" in stderr
    stderr = _one_clean_error(labs("start", "nginx-misconfig", env=env), 4)
    assert "no-engine.sock" in stderr


def test_list_answers_without_an_engine(labs, tmp_path):
    result = labs("list", env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    assert result.returncode == 0
    assert "nginx-misconfig" in result.stdout
    assert "running state unknown" in result.stderr


def test_doctor_reports_engine_down(labs, tmp_path):
    result, findings = labs.json("doctor", env={"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"})
    assert result.returncode == 4
    engine = [f for f in findings["findings"] if f["check"] == "engine"][0]
    assert not engine["ok"] and engine["fix"]


def test_stop_needs_a_lab_or_all(labs):
    _one_clean_error(labs("stop"), 2)


def test_bad_instance_name(labs):
    stderr = _one_clean_error(labs("start", "nginx-misconfig", "--instance", "Bad Name!"), 2)
    assert "--instance" in stderr


def test_hints_one_at_a_time_and_remembered(labs):
    first = labs("hint", "nginx-misconfig", "--instance", "hints")
    second = labs("hint", "nginx-misconfig", "--instance", "hints")
    third = labs("hint", "nginx-misconfig", "--instance", "hints")
    again = labs("hint", "nginx-misconfig", "--instance", "hints")
    assert [r.returncode for r in (first, second, third, again)] == [0, 0, 0, 0]
    assert "hint 1/3" in first.stdout and "hint 2/3" in second.stdout and "hint 3/3" in third.stdout
    assert "last hint" in third.stdout and "hint 3/3" in again.stdout


def test_corrupt_progress_file_is_set_aside(labs, state_dir):
    (state_dir / "progress.json").write_text("{not json")
    result = labs("hint", "nginx-misconfig", "--instance", "corrupt")
    assert result.returncode == 0 and "hint 1/3" in result.stdout
    assert list(state_dir.glob("progress.json.corrupt-*"))


@pytest.mark.docker
def test_stop_of_a_lab_not_running_says_so(labs, engine):
    result = labs("stop", "nginx-misconfig", "--instance", "never-started")
    assert result.returncode == 0 and "was not running" in result.stdout


@pytest.mark.docker
def test_check_of_a_lab_not_running_is_exit_3(labs, engine):
    stderr = _one_clean_error(labs("check", "nginx-misconfig", "--instance", "never-started"), 3)
    assert "is not running" in stderr and "labs start nginx-misconfig --instance never-started" in stderr


@pytest.mark.docker
def test_port_taken_names_the_port_and_holder(labs, engine, tmp_path):
    """A lab whose fixed port is held by another program is refused before anything is created."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        lab = tmp_path / "port-clash"
        shutil.copytree(SHIPPED / "nginx-misconfig", lab)
        spec = lab / "lab.yaml"
        spec.write_text(spec.read_text().replace("id: nginx-misconfig", "id: port-clash").replace('"8080:80"', f'"{port}:80"'))
        stderr = _one_clean_error(labs("start", "port-clash", "--labs-dir", str(tmp_path)), 6)
    assert f"127.0.0.1:{port}" in stderr and "already in use by process" in stderr
    selector = {"label": ["io.labs.lab=port-clash"]}
    assert not engine.containers.list(all=True, filters=selector)
    assert not engine.networks.list(filters=selector)
