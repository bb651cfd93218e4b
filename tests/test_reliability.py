"""Reliability and security on the real engine: hardened containers, crash-safe lifecycle, bad input.

- every container of every shipped lab is inspected against the security model;
- `labs start` killed with SIGKILL at each phase leaves a state `labs start` and `labs stop` recover from;
- Ctrl-C or SIGTERM while the break runs a command rolls back with exit 130 and one message;
- two simultaneous starts of one instance yield exactly one instance;
- an engine that disappears mid-command gives one clear message;
- every hostile or malformed lab in tests/corpus gets its one-line error and documented exit code,
  with no traceback and nothing left running.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, ctrl_c_reaches_it, labelled, signal_after_line

pytestmark = pytest.mark.docker

CORPUS = REPO / "tests" / "corpus"
SHIPPED = sorted(p.name for p in (REPO / "labs").iterdir() if (p / "lab.yaml").exists())
NOTHING = {"containers": [], "networks": [], "volumes": []}
MAX_MEMORY = 2 * 1024**3
ALLOWED_CAPS = {"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETUID", "SETGID", "KILL", "NET_BIND_SERVICE"}


def _clean(result, code):
    assert result.returncode == code, f"exit {result.returncode}, wanted {code}:\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stdout + result.stderr
    return result.stderr


# --- hardened containers ----------------------------------------------------------------------

@pytest.mark.parametrize("lab_id", SHIPPED)
def test_every_container_is_hardened(lab_id, engine, lab_instance, instance_name):
    from orchestrator.spec import load_lab

    spec = load_lab(REPO / "labs" / lab_id)
    started = lab_instance(lab_id)
    assert started.returncode == 0, started.stderr
    key = f"{lab_id}.{instance_name}"
    found = labelled(engine, instance=key)
    assert {c.labels["io.labs.service"] for c in found["containers"]} == set(spec.services)
    for container in found["containers"]:
        service = spec.services[container.labels["io.labs.service"]]
        host = container.attrs["HostConfig"]
        name = container.name
        assert host["Privileged"] is False, f"{name} is privileged"
        assert host["CapDrop"] == ["ALL"], f"{name} keeps default capabilities"
        assert set(host["CapAdd"] or []) <= ALLOWED_CAPS | set(service.cap_add), f"{name} adds {host['CapAdd']}"
        assert "no-new-privileges" in (host["SecurityOpt"] or []), f"{name} allows new privileges"
        assert 0 < host["Memory"] <= MAX_MEMORY, f"{name} memory limit {host['Memory']}"
        assert host["PidsLimit"] and host["PidsLimit"] > 0, f"{name} has no pids limit"
        assert host["NanoCpus"] > 0, f"{name} has no CPU limit"
        assert host["NetworkMode"] not in ("host",) and host["PidMode"] != "host" and host["IpcMode"] != "host"
        for mount in container.attrs["Mounts"]:
            assert "docker.sock" not in mount.get("Source", ""), f"{name} mounts the Docker socket"
        for bindings in (host["PortBindings"] or {}).values():
            for binding in bindings:
                assert binding["HostIp"] == "127.0.0.1", f"{name} publishes on {binding}"
    for network in found["networks"]:
        options = network.attrs.get("Options") or {}
        no_egress = network.attrs.get("Internal") or options.get("com.docker.network.bridge.enable_ip_masquerade") == "false"
        assert no_egress or spec.egress, f"network {network.name} lets containers reach outside the lab"


# --- crash-safe lifecycle --------------------------------------------------------------------

def _start_process(labs, instance, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "start", *extra, "--instance", instance],
        env=labs.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for(predicate, what, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("phase", ["creating", "waiting", "breaking"])
def test_sigkill_during_start_then_start_and_stop_recover(phase, labs, engine, instance_name):
    key = f"nginx-misconfig.{instance_name}"
    process = _start_process(labs, instance_name, "nginx-misconfig")
    try:
        if phase == "creating":
            _wait_for(lambda: labelled(engine, instance=key)["networks"], "the network")
        elif phase == "waiting":
            _wait_for(lambda: len(labelled(engine, instance=key)["containers"]) == 2, "the containers")
        else:
            # The break runs once both services are ready; pyinfra execs then run in the proxy.
            def breaking():
                proxy = labelled(engine, instance=key, service="proxy")["containers"]
                return proxy and proxy[0].status == "running" and proxy[0].exec_run(["test", "-e", "/run/labs/ready"]).exit_code == 0
            _wait_for(breaking, "the break phase")
        process.kill()
        process.wait(timeout=30)
        result, status = labs.json("status")
        mine = [s for s in status["instances"] if s["key"] == key]
        assert mine and mine[0]["state"] in ("incomplete", "running"), mine

        again = labs("start", "nginx-misconfig", "--instance", instance_name)
        assert again.returncode == 0, again.stderr
        result, status = labs.json("status")
        assert [s for s in status["instances"] if s["key"] == key][0]["state"] == "running"
        code, report = labs.json("check", "nginx-misconfig", "--instance", instance_name)
        assert code.returncode == 1, "after recovering, the lab must be broken again"
    finally:
        if process.poll() is None:
            process.kill()
        labs("stop", "nginx-misconfig", "--instance", instance_name)
    assert labelled(engine, instance=key) == NOTHING


def test_sigkill_then_stop_all_of_that_lab_leaves_nothing(labs, engine, instance_name):
    key = f"nginx-misconfig.{instance_name}"
    process = _start_process(labs, instance_name, "nginx-misconfig")
    try:
        _wait_for(lambda: len(labelled(engine, instance=key)["containers"]) == 2, "the containers")
        process.kill()
        process.wait(timeout=30)
        stopped = labs("stop", "nginx-misconfig", "--instance", instance_name)
        assert stopped.returncode == 0 and key in stopped.stdout
        assert labelled(engine, instance=key) == NOTHING
        again = labs("stop", "nginx-misconfig", "--instance", instance_name)
        assert again.returncode == 0 and "was not running" in again.stdout
    finally:
        if process.poll() is None:
            process.kill()
        labs("stop", "nginx-misconfig", "--instance", instance_name)


@pytest.fixture
def slow_break_lab(tmp_path):
    """The scaffold, its break ending in a command that runs for a minute: a signal sent while
    the break runs always lands in it (in pyinfra's greenlet running that command)."""
    from orchestrator.scaffold import new_lab

    folder = new_lab("slow-break", tmp_path / "labs")
    deploy = folder / "break.py"
    deploy.write_text(deploy.read_text() + '\n    server.shell(name="A long migration", commands=["sleep 60"])\n')
    return folder


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_while_the_break_runs_rolls_back_with_130_and_one_message(signum, slow_break_lab, state_dir, engine, instance_name):
    from tests.conftest import Labs

    cli = Labs(state_dir, env={"LABS_PATH": str(slow_break_lab.parent)})
    key = f"slow-break.{instance_name}"
    process = subprocess.Popen([sys.executable, "-m", "orchestrator", "start", "slow-break", "--instance", instance_name],
                               env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_reaches_it)
    try:
        stderr = signal_after_line(process, "breaking the environment", signum, delay=2)
        process.wait(timeout=120)
        assert process.returncode == 130, stderr
        assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
        assert "rolled back" in stderr, stderr
        assert labelled(engine, instance=key) == NOTHING
    finally:
        if process.poll() is None:
            process.kill()
        cli("stop", "slow-break", "--instance", instance_name)


@pytest.mark.parametrize("shared_state", [True, False], ids=["same-user", "separate-state-dirs"])
def test_two_simultaneous_starts_make_one_instance(shared_state, labs, engine, instance_name, tmp_path):
    key = f"nginx-misconfig.{instance_name}"
    first = _start_process(labs, instance_name, "nginx-misconfig")
    env = labs.env if shared_state else {**labs.env, "LABS_STATE_DIR": str(tmp_path / "other")}
    second = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "start", "nginx-misconfig", "--instance", instance_name],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        outcomes = [(p.wait(timeout=180), p.stdout.read(), p.stderr.read()) for p in (first, second)]
        codes = sorted(code for code, _, _ in outcomes)
        for code, out, err in outcomes:
            assert "Traceback" not in err
            if code == 6:
                assert "busy" in err or "another labs command" in err, err
        assert codes in ([0, 0], [0, 6]), outcomes
        if codes == [0, 0]:
            assert any("already running" in out for _, out, _ in outcomes), outcomes
        found = labelled(engine, instance=key)
        assert len(found["containers"]) == 2 and len(found["networks"]) == 1
        assert all(c.status == "running" for c in found["containers"])
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
        labs("stop", "nginx-misconfig", "--instance", instance_name)


def test_stopped_services_are_resumed_with_the_learners_work(labs, engine, lab_instance, instance_name):
    """After an engine restart containers are stopped: status says degraded, start resumes them."""
    assert lab_instance("nginx-misconfig").returncode == 0
    key = f"nginx-misconfig.{instance_name}"
    proxy = labelled(engine, instance=key, service="proxy")["containers"][0]
    assert proxy.exec_run(["sh", "-c", "echo mine > /root/notes.txt"]).exit_code == 0
    for container in labelled(engine, instance=key)["containers"]:
        container.stop(timeout=5)
    result, status = labs.json("status")
    mine = [s for s in status["instances"] if s["key"] == key][0]
    assert mine["state"] == "degraded" and set(mine["services"].values()) == {"exited"}
    resumed = labs("start", "nginx-misconfig", "--instance", instance_name)
    assert resumed.returncode == 0 and "resumed" in resumed.stdout
    proxy.reload()
    assert proxy.status == "running"
    assert proxy.exec_run(["cat", "/root/notes.txt"]).output == b"mine\n"


# --- an engine that disappears mid-command ------------------------------------------------------

class _VanishingEngine:
    """A Unix-socket proxy to the real engine that can be cut off at any moment."""

    def __init__(self, path: Path):
        self.path = str(path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(64)
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect("/var/run/docker.sock")
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def vanish(self):
        self.listener.close()
        os.unlink(self.path)
        with self.lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def test_engine_vanishing_mid_start_is_one_clear_error(labs, engine, instance_name):
    if not Path("/var/run/docker.sock").exists():
        pytest.skip("needs the engine on the default Unix socket")
    sock_dir = Path(f"/tmp/labs-vanish-{instance_name}")
    sock_dir.mkdir()
    proxy = _VanishingEngine(sock_dir / "engine.sock")
    key = f"nginx-misconfig.{instance_name}"
    env = {**labs.env, "DOCKER_HOST": f"unix://{proxy.path}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "start", "nginx-misconfig", "--instance", instance_name],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_for(lambda: labelled(engine, instance=key)["networks"], "the network")
        proxy.vanish()
        _, stderr = process.communicate(timeout=120)
        assert process.returncode in (4, 7), stderr
        assert "Traceback" not in stderr and "error:" in stderr
        if process.returncode == 4:
            assert "Docker engine" in stderr
    finally:
        if process.poll() is None:
            process.kill()
        shutil.rmtree(sock_dir, ignore_errors=True)
        labs("stop", "nginx-misconfig", "--instance", instance_name)
    assert labelled(engine, instance=key) == NOTHING


# --- hostile and malformed labs --------------------------------------------------------------

CORPUS_CASES = {
    "broken-yaml": (2, "invalid YAML"),
    "wrong-types": (2, "minutes"),
    "unknown-field": (2, "run_as_root_on_host: Extra inputs are not permitted"),
    "missing-files": (2, "solution: file 'solution.py' does not exist"),
    "id-traversal": (2, "id: String should match pattern"),
    "has-space": (2, "id: String should match pattern"),
    "uppercase": (2, "id: String should match pattern"),
    "shell-metachar": (2, "id: String should match pattern"),
    "image-escape": (2, "services.web.image"),
    "path-escape": (2, "must be a file inside the lab folder"),
    "absurd-limits": (2, "above the 2g ceiling"),
    "not-a-mapping": (2, "expected a mapping"),
    "empty-spec": (2, "expected a mapping"),
    "no-services": (2, "services"),
    "unknown-image": (2, "no image 'does-not-exist'"),
    "env-injection": (2, "is not a valid environment variable name"),
    "break-raises": (7, "raised RuntimeError: the break script is broken"),
    "build-fails": (7, "compiling the widget"),
}


@pytest.mark.parametrize("case", sorted(CORPUS_CASES))
def test_corpus_case_gets_one_clear_error(case, labs, engine):
    code, expected = CORPUS_CASES[case]
    result = labs("start", case, "--labs-dir", str(CORPUS), "--instance", "corpus")
    stderr = _clean(result, code)
    assert expected in stderr, stderr
    assert len([line for line in stderr.splitlines() if line.startswith("error:")]) == 1, stderr
    if code == 2:
        assert str(CORPUS / case / "lab.yaml") in stderr, "the message must name the file"
    leftovers = engine.containers.list(all=True, filters={"label": [f"io.labs.folder={CORPUS / case}"]})
    assert not leftovers, f"{case} left {[c.name for c in leftovers]}"
    assert not engine.networks.list(filters={"label": [f"io.labs.folder={CORPUS / case}"]})


def test_huge_spec_file_is_refused(labs, tmp_path):
    lab = tmp_path / "huge"
    shutil.copytree(CORPUS / "unknown-field", lab)
    (lab / "lab.yaml").write_text("id: huge\n# " + "x" * 400_000 + "\n")
    stderr = _clean(labs("info", "huge", "--labs-dir", str(tmp_path)), 2)
    assert "larger than" in stderr


def test_hostile_lab_id_on_the_command_line(labs):
    for hostile in ("../../etc", "a;rm -rf /", "$(id)", "UPPER"):
        stderr = _clean(labs("start", hostile), 3)
        assert "no lab named" in stderr


def test_solution_that_hangs_times_out(labs, engine, instance_name):
    try:
        started = labs("start", "solution-hangs", "--labs-dir", str(CORPUS), "--instance", instance_name)
        assert started.returncode == 0, started.stderr
        began = time.monotonic()
        result = labs("solve", "solution-hangs", "--labs-dir", str(CORPUS), "--instance", instance_name, env={"LABS_DEPLOY_TIMEOUT": "4"})
        stderr = _clean(result, 5)
        assert "did not finish within 4 s" in stderr
        assert time.monotonic() - began < 60
    finally:
        labs("stop", "solution-hangs", "--instance", instance_name)
    assert labelled(engine, instance=f"solution-hangs.{instance_name}") == NOTHING
