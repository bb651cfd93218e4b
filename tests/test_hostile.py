"""Hostile lab folders, hostile state and a hung engine, without a running lab.

Every case runs the real `labs` command in a fresh process, bounded by a timeout so a
regression (a YAML bomb spinning, a FIFO blocking, a hung engine waiting 120 s) fails instead
of stalling, and asserts the documented exit code, one error line, and no traceback. The
cases that must leave nothing behind in the engine are in tests/test_safety_engine.py.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

from tests.conftest import REPO

CORPUS = REPO / "tests" / "corpus"
TIMEOUT = 60  # seconds any one command may take before the test fails

# corpus case -> a phrase of the one error `labs info`, `labs start` and `labs lint` must give
REFUSED = {
    "yaml-alias-bomb": "an alias bomb",
    "yaml-deep-nesting": "nested more than 32 levels deep",
    "caps-sys-admin": "capability SYS_ADMIN is not allowed",
    "caps-all": "capability ALL is not allowed",
    "caps-mknod": "capability MKNOD is not allowed",
    "briefing-symlink": "briefing.md is a symlink to /etc/shadow, outside the lab folder",
    "briefing-proc-mem": "briefing.md is a symlink to /proc/self/mem, outside the lab folder",
    "context-symlink": "images/leak/secret is a symlink to /etc/hostname, outside the lab folder",
    "files-symlink-dir": "files/etc is a symlink to /etc, outside the lab folder",
    "briefing-latin1": "not UTF-8",
    "env-nul": "NUL byte",
    "env-newline-name": "is not a valid environment variable name",
    "env-undeclared": "${nope} is not a declared value",
    "port-twice": "host port 18099 is published by both web and other",
    "too-big": "more than the 4 GiB a lab may use",
    "too-many-services": "more than the 12 a lab may have",
}


def one_error(result, code: int) -> str:
    """The single error of a failed command (asserting exit code, one line, no traceback)."""
    output = result.stdout + result.stderr
    assert result.returncode == code, f"exit {result.returncode}, wanted {code}:\n{output}"
    assert "Traceback" not in output, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return result.stderr


def no_raw_controls(text: str) -> None:
    raw = [c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]
    assert not raw, f"raw control characters reached the terminal: {raw!r}"


@pytest.fixture
def labs(state_dir):
    from tests.conftest import Labs

    runner = Labs(state_dir)
    return lambda *args, **kw: runner(*args, timeout=TIMEOUT, **kw)


@pytest.mark.parametrize("case", sorted(REFUSED))
@pytest.mark.parametrize("command", ["info", "lint"])
def test_hostile_lab_is_refused_with_one_line(case, command, labs):
    result = labs(command, case, "--labs-dir", str(CORPUS))
    if command == "lint":
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        assert REFUSED[case] in result.stdout, result.stdout
    else:
        assert REFUSED[case] in one_error(result, 2)


def test_list_survives_every_hostile_lab_on_the_path(labs):
    """A YAML bomb or a hostile title merely on LABS_PATH must not break (or hang) `labs list`."""
    result = labs("list", env={"LABS_PATH": str(CORPUS), "DOCKER_HOST": "unix:///nonexistent.sock"})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    no_raw_controls(result.stdout + result.stderr)
    assert "yaml-alias-bomb" in result.stdout and "cannot be read" in result.stdout
    assert "Broken [/] markup [bold]title" in result.stdout
    rows = json.loads(labs("list", "--json", env={"LABS_PATH": str(CORPUS)}).stdout)["labs"]
    assert {r["lab"] for r in rows} >= {"yaml-alias-bomb", "yaml-deep-nesting", "escape-text", "markup-title"}


@pytest.mark.parametrize("command", [("info",), ("hint", "--instance", "esc"), ("list",)])
def test_escape_sequences_are_shown_not_sent(command, labs):
    args = [*command[:1], *(["escape-text"] if command[0] != "list" else []), *command[1:], "--labs-dir", str(CORPUS)]
    result = labs(*args)
    assert result.returncode == 0, result.stderr
    no_raw_controls(result.stdout + result.stderr)
    assert "\\x1b]0;owned" in result.stdout or "\\x1b]8;;" in result.stdout, result.stdout


@pytest.mark.parametrize("command", ["info", "hint"])
def test_markup_in_lab_text_is_never_parsed(command, labs):
    result = labs(command, "markup-title", "--labs-dir", str(CORPUS), "--instance", "markup") if command == "hint" else labs(command, "markup-title", "--labs-dir", str(CORPUS))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "[/]" in result.stdout


def test_lint_never_runs_the_suite_or_a_conftest(labs, tmp_path):
    canary = tmp_path / "canary"
    result = labs("lint", "lint-runs-code", "--labs-dir", str(CORPUS), env={"LABS_CANARY": str(canary)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert not canary.exists(), f"lint executed lab code: {canary.read_text()}"


def test_lint_still_finds_objectives_fixtures_and_imports(labs, tmp_path):
    lab = tmp_path / "static-suite"
    shutil.copytree(CORPUS / "lint-runs-code", lab)
    (lab / "conftest.py").write_text("import pytest\n\n\n@pytest.fixture\ndef from_conftest():\n    return 1\n")
    (lab / "test_objectives.py").write_text(
        "import no_such_module_here\nimport pytest\n\n\n"
        "@pytest.fixture\ndef own():\n    return 1\n\n\n"
        "def test_a(lab, own, from_conftest, tmp_path):\n    \"\"\"Objective A\"\"\"\n\n\n"
        "@pytest.mark.parametrize('n', [1, 2])\ndef test_b(lab, n):\n    \"\"\"Objective B\"\"\"\n\n\n"
        "class TestGroup:\n    def test_c(self, labb):\n        pass\n"
    )
    (lab / "lab.yaml").write_text((lab / "lab.yaml").read_text().replace("id: lint-runs-code", "id: static-suite"))
    result = labs("lint", "--json", str(lab))
    report = json.loads(result.stdout)["labs"][0]
    assert [o["name"] for o in report["objectives"]] == ["test_a", "test_b", "test_c"]
    errors = [p["message"] for p in report["problems"] if p["severity"] == "error"]
    assert any("No module named 'no_such_module_here'" in e for e in errors), errors
    assert any("fixture 'labb'" in e for e in errors), errors
    assert not any("'own'" in e or "from_conftest" in e or "'n'" in e or "tmp_path" in e for e in errors), errors


def test_fifo_briefing_never_blocks(labs, tmp_path):
    lab = tmp_path / "fifo-briefing"
    shutil.copytree(CORPUS / "lint-runs-code", lab)
    (lab / "lab.yaml").write_text((lab / "lab.yaml").read_text().replace("id: lint-runs-code", "id: fifo-briefing"))
    (lab / "briefing.md").unlink()
    os.mkfifo(lab / "briefing.md")
    assert "not a regular file" in one_error(labs("info", "fifo-briefing", "--labs-dir", str(tmp_path)), 2)
    result = labs("lint", str(lab))
    assert result.returncode == 2 and "not a regular file" in result.stdout


# --------------------------------------------------------------------------- state folder


@pytest.mark.parametrize("kind", ["a file", "cannot be created", "read-only"])
def test_state_folder_problems_are_one_line(kind, labs, tmp_path):
    if kind == "a file":
        where = tmp_path / "state"
        where.write_text("not a folder")
    elif kind == "cannot be created":
        where = tmp_path / "file" / "state"
        (tmp_path / "file").write_text("")
    else:
        where = Path("/proc/sys/labs-state")  # read-only even for root
    stderr = one_error(labs("hint", "nginx-misconfig", "--instance", "state", env={"LABS_STATE_DIR": str(where)}), 2)
    assert "state folder" in stderr or "progress" in stderr


@pytest.mark.parametrize("content", ['{"nginx-misconfig.shape": "three"}', "[1, 2]", '{"x": {"hints": "many"}}', "\xff"])
def test_malformed_progress_is_set_aside(content, labs, tmp_path):
    (tmp_path / "progress.json").write_text(content, encoding="latin-1")
    result = labs("hint", "nginx-misconfig", "--instance", "shape", env={"LABS_STATE_DIR": str(tmp_path)})
    assert result.returncode == 0 and "hint 1/3" in result.stdout, result.stdout + result.stderr
    assert list(tmp_path.glob("progress.json.corrupt-*"))


def test_progress_fifo_never_blocks(labs, tmp_path):
    os.mkfifo(tmp_path / "progress.json")
    result = labs("hint", "nginx-misconfig", "--instance", "fifo", env={"LABS_STATE_DIR": str(tmp_path)})
    assert result.returncode == 0 and "hint 1/3" in result.stdout, result.stdout + result.stderr
    # The old progress file is only ever imported into the history database: a FIFO in its place
    # is set aside, never opened for reading.
    assert not (tmp_path / "progress.json").exists() and list(tmp_path.glob("progress.json.corrupt-*"))


@pytest.mark.parametrize("name", ["x\n", "x\ny", "\n"])
def test_instance_names_with_newlines_are_usage_errors(name, labs, tmp_path):
    for command in ("start", "hint", "stop"):
        stderr = one_error(labs(command, "nginx-misconfig", "--instance", name, env={"LABS_STATE_DIR": str(tmp_path)}), 2)
        assert "--instance" in stderr
    assert not list(tmp_path.rglob("*\n*"))


# --------------------------------------------------------------------------- a hung engine


@pytest.fixture
def hung_engine(tmp_path):
    """A unix socket that accepts connections and never answers."""
    path = tmp_path / "hung.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(64)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"unix://{path}"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("command", [("status",), ("check", "nginx-misconfig"), ("logs", "nginx-misconfig")])
def test_hung_engine_is_exit_4_for_read_only_commands(command, labs, hung_engine):
    # The command's own timeout is the bound: before, these waited 120 s per call.
    result = labs(*command, env={"DOCKER_HOST": hung_engine, "LABS_ENGINE_DEADLINE": "5"})
    assert "did not answer" in one_error(result, 4)


def test_hung_engine_does_not_hold_up_list(labs, hung_engine):
    result = labs("list", env={"DOCKER_HOST": hung_engine, "LABS_ENGINE_DEADLINE": "5"})
    assert result.returncode == 0 and "nginx-misconfig" in result.stdout


def test_capabilities_off_the_allow_list_are_refused_where_containers_are_made():
    from orchestrator.engine.docker_engine import container_caps
    from orchestrator.errors import SpecError

    assert "NET_RAW" in container_caps(["NET_RAW"])
    for cap in ("SYS_ADMIN", "CAP_SYS_MODULE", "MKNOD", "ALL", "DAC_READ_SEARCH", "SYS_RAWIO", "BPF"):
        with pytest.raises(SpecError, match="is not allowed"):
            container_caps([cap])
