"""Safe by construction, on the real engine: refused labs create nothing, no capability beyond the
allow-list, no way out of a lab's network, checks that never race another command, and
conflict messages that say what really happened.

The egress test never sends a packet off this machine: it makes its own network namespace (an
"outside" host) joined to the host by a veth pair, with addresses from 198.18.0.0/15 that exist
only in that namespace, and removes it afterwards.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO, labelled
from tests.test_hostile import CORPUS, REFUSED, one_error

pytestmark = pytest.mark.docker

NOTHING = {"containers": [], "networks": [], "volumes": []}


def _copy_lab(source: str, base: Path, new_id: str, *, edit=None) -> Path:
    """A copy of a shipped lab under a new id (``edit(spec_text) -> spec_text`` changes lab.yaml)."""
    target = base / new_id
    shutil.copytree(REPO / "labs" / source, target)
    spec = target / "lab.yaml"
    text = spec.read_text().replace(f"id: {source}", f"id: {new_id}")
    spec.write_text(edit(text) if edit else text)
    return target


def _any_port(text: str) -> str:
    return text.replace('ports: ["8080:80"]', 'ports: ["80"]')


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_lab_creates_nothing(case, labs, engine):
    try:
        result = labs("start", case, "--labs-dir", str(CORPUS), "--instance", "safety", timeout=120)
        assert REFUSED[case] in one_error(result, 2)
        assert labelled(engine, lab=case) == NOTHING
    finally:
        labs("stop", case, "--instance", "safety", timeout=120)  # only if a regression started it


def test_an_image_label_grants_no_capability(labs, engine, tmp_path, instance_name):
    lab_id = f"caps{uuid.uuid4().hex[:6]}"
    folder = tmp_path / lab_id
    shutil.copytree(CORPUS / "lint-runs-code", folder)
    (folder / "conftest.py").unlink()
    (folder / "lab.yaml").write_text(
        f"id: {lab_id}\ntitle: Caps label\nsummary: an image label must not grant capabilities\n"
        "difficulty: beginner\nminutes: 5\nsolution_notes: null\nhints: [none]\n"
        "services:\n  box:\n    image: capsbox\n    command: [sleep, infinity]\n    readiness: {command: 'true'}\n"
    )
    (folder / "images" / "capsbox").mkdir(parents=True)
    (folder / "images" / "capsbox" / "Dockerfile").write_text('FROM debian:bookworm\nLABEL io.labs.caps="SYS_ADMIN MKNOD SYS_MODULE"\n')
    key = f"{lab_id}.{instance_name}"
    try:
        started = labs("start", lab_id, "--labs-dir", str(tmp_path), "--instance", instance_name, timeout=300)
        assert started.returncode == 0, started.stderr
        (container,) = labelled(engine, instance=key)["containers"]
        granted = set(container.attrs["HostConfig"]["CapAdd"] or [])
        assert not granted & {"SYS_ADMIN", "MKNOD", "SYS_MODULE", "CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_SYS_MODULE"}, granted
    finally:
        labs("stop", lab_id, "--instance", instance_name)
        for image in engine.images.list(name="labs/capsbox"):
            engine.images.remove(image.id, force=True)
    assert labelled(engine, instance=key) == NOTHING


# --------------------------------------------------------------------------- egress


class Outside:
    """A network namespace standing for the world outside the machine, joined to the host by a
    veth pair: the host end is ``host_ip``, the namespace end ``ip``; both exist only here."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.ns = f"labs-out-{tag}"
        self.host_if, self.ns_if = f"vo{tag}h", f"vo{tag}n"
        base = random.randrange(0, 64) * 4
        self.host_ip, self.ip = f"198.18.{random.randrange(1, 250)}.{base + 1}", None
        self.ip = self.host_ip.rsplit(".", 1)[0] + f".{base + 2}"
        self.port = 9
        self.listener = None

    def sh(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=check)

    def ns_sh(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.sh("ip", "netns", "exec", self.ns, *argv, check=check)

    def create(self) -> None:
        self.sh("ip", "netns", "add", self.ns)
        self.sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        self.sh("ip", "link", "set", self.ns_if, "netns", self.ns)
        self.sh("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        self.sh("ip", "link", "set", self.host_if, "up")
        self.ns_sh("ip", "addr", "add", f"{self.ip}/30", "dev", self.ns_if)
        self.ns_sh("ip", "link", "set", self.ns_if, "up")
        self.ns_sh("ip", "link", "set", "lo", "up")
        # Replies may route back through the host: without the guard, a lab container's
        # connection to this "outside" host would complete.
        self.ns_sh("ip", "route", "add", "default", "via", self.host_ip)
        self.ns_sh("iptables", "-A", "INPUT", "-p", "tcp", "--dport", str(self.port), "-j", "ACCEPT")
        self.ns_sh("iptables", "-A", "INPUT", "-p", "udp", "--dport", "53", "-j", "ACCEPT")
        script = (
            "import socket, time\n"
            f"t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(('{self.ip}', {self.port})); t.listen(16)\n"
            f"u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('{self.ip}', 53))\n"
            "t.settimeout(1)\n"
            "while True:\n"
            "    try:\n        t.accept()[0].close()\n    except OSError:\n        pass\n"
        )
        self.listener = subprocess.Popen(["ip", "netns", "exec", self.ns, sys.executable, "-c", script])
        time.sleep(0.5)

    def packets_in(self) -> int:
        """Packets that reached the outside host's listeners (TCP and UDP), by its own counters."""
        out = self.ns_sh("iptables", "-L", "INPUT", "-v", "-n", "-x").stdout
        return sum(int(line.split()[0]) for line in out.splitlines() if "dpt:" in line)

    def reset_counters(self) -> None:
        self.ns_sh("iptables", "-Z", "INPUT")

    def destroy(self) -> None:
        if self.listener is not None:
            self.listener.kill()
            self.listener.wait(10)
        self.sh("ip", "netns", "del", self.ns, check=False)
        self.sh("ip", "link", "del", self.host_if, check=False)


@pytest.fixture
def outside():
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("iptables"):
        pytest.skip("needs root, ip and iptables to build an outside namespace")
    world = Outside()
    try:
        world.create()
        yield world
    finally:
        world.destroy()


REACH = """
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    socket.create_connection((host, port), timeout=3).close()
    print("tcp: connected")
except OSError as err:
    print(f"tcp: {err}")
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    u.sendto(b"\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x07example\\x03com\\x00\\x00\\x01\\x00\\x01", (host, 53))
except OSError as err:
    print(f"udp: {err}")
"""


def _from_lab(labs, lab_id: str, instance: str, service: str, host: str, port: int, labs_dir: Path | None = None) -> str:
    args = ["shell", lab_id, service, "--instance", instance, "--", "python3", "-c", REACH, host, str(port)]
    result = labs(*args, timeout=120)
    return result.stdout + result.stderr


def test_nothing_leaves_a_lab_network_in_either_direction(labs, engine, outside, tmp_path):
    """Containers of a lab with published ports and of one without cannot reach the outside host
    or open connections to the host itself; the outside host cannot reach them; the host can reach
    the outside host; the published port still answers; stopping removes the rules."""
    base = tmp_path / "labs"
    base.mkdir()
    tag = uuid.uuid4().hex[:6]
    with_ports = _copy_lab("nginx-misconfig", base, f"egress-ports-{tag}", edit=_any_port)
    without = _copy_lab("nginx-misconfig", base, f"egress-none-{tag}", edit=lambda t: t.replace('    ports: ["8080:80"]          # published on 127.0.0.1 only\n', ""))
    env = {"LABS_PATH": str(base)}
    started, networks = [], []
    host_listener = __import__("socket").socket()
    host_listener.bind((outside.host_ip, 0))
    host_listener.listen(4)
    try:
        # The host reaches the outside host (the namespace and its listener work).
        __import__("socket").create_connection((outside.ip, outside.port), timeout=5).close()
        assert outside.packets_in() > 0
        outside.reset_counters()
        for folder in (with_ports, without):
            result = labs("start", folder.name, "--instance", "egress", env=env, timeout=300)
            started.append(folder.name)
            assert result.returncode == 0, result.stderr
            assert "no egress guard" not in result.stderr
            seen = _from_lab(lambda *a, **k: labs(*a, env=env, **k), folder.name, "egress", "app", outside.ip, outside.port)
            assert "tcp: connected" not in seen, f"{folder.name}: a lab container reached the outside host: {seen}"
            mine = _from_lab(lambda *a, **k: labs(*a, env=env, **k), folder.name, "egress", "app", outside.host_ip, host_listener.getsockname()[1])
            assert "tcp: connected" not in mine, f"{folder.name}: a lab container opened a connection to the host: {mine}"
            assert outside.packets_in() == 0, f"{folder.name}: packets from the lab reached the outside host"
            # Inbound: the outside host cannot reach a lab container, even on a published port.
            key = f"{folder.name}.egress"
            app = next(c for c in labelled(engine, instance=key)["containers"] if c.labels["io.labs.service"] == "app")
            proxy = next(c for c in labelled(engine, instance=key)["containers"] if c.labels["io.labs.service"] == "proxy")
            for target, port in ((app, 8000), (proxy, 80)):
                address = next(iter(target.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
                probe = outside.ns_sh(sys.executable, "-c", f"import socket\ntry:\n socket.create_connection(('{address}', {port}), timeout=3); print('connected')\nexcept OSError as e: print(e)", check=False)
                assert "connected" not in probe.stdout.replace("not connected", ""), f"the outside host reached {target.name}: {probe.stdout}"
        # Replies to a published port still work (solved, so nginx answers).
        solved = labs("solve", with_ports.name, "--instance", "egress", env=env, timeout=300)
        assert solved.returncode == 0, solved.stderr
        status = json.loads(labs("status", "--json", timeout=60).stdout)["instances"]
        port = next(i for i in status if i["key"] == f"{with_ports.name}.egress")["ports"]["proxy"][0].split("->")[0].split(":")[1]
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.status == 200
        networks = [n.id[:12] for name in started for n in labelled(engine, lab=name)["networks"]]
        assert networks and all(f"labs:{n}" in _rules() for n in networks)
    finally:
        host_listener.close()
        for name in started:
            labs("stop", name, "--instance", "egress", env=env, timeout=120)
    assert not any(f"labs:{n}" in _rules() for n in networks), "stopping a lab left its firewall rules"


def _rules() -> str:
    return subprocess.run(["iptables", "-S"], capture_output=True, text=True, timeout=30).stdout


def test_doctor_reports_the_egress_guard(labs, engine):
    result, report = labs.json("doctor")
    guard = next(f for f in report["findings"] if f["check"] == "egress guard")
    assert guard["ok"] == (os.geteuid() == 0 and bool(shutil.which("iptables"))), guard


# --------------------------------------------------------------------------- checks hold the instance


def _hold_lock(state_dir: Path, key: str, holder: str) -> int:
    folder = state_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(fd, 0)
    os.pwrite(fd, holder.encode(), 0)
    return fd


def test_check_waits_for_the_command_holding_the_instance(labs, lab_instance, instance_name, state_dir):
    started = lab_instance("nginx-misconfig")
    assert started.returncode == 0, started.stderr
    key = f"nginx-misconfig.{instance_name}"
    fd = _hold_lock(state_dir, key, "`labs reset nginx-misconfig` (pid 4242)")
    try:
        busy = labs("check", "nginx-misconfig", "--instance", instance_name, env={"LABS_CHECK_WAIT": "0"}, timeout=120)
        assert "`labs reset nginx-misconfig` (pid 4242)" in one_error(busy, 6)
        # A second check waits, says for whom, and runs once the holder lets go.
        waiting = subprocess.Popen(
            [sys.executable, "-m", "orchestrator", "check", "nginx-misconfig", "--instance", instance_name],
            env={**labs.env, "LABS_CHECK_WAIT": "100"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        told = threading.Event()
        first_line = []

        def watch():
            first_line.append(waiting.stderr.readline())
            told.set()

        threading.Thread(target=watch, daemon=True).start()
        assert told.wait(120), "the waiting check said nothing"
        os.close(fd)
        fd = None
        out, rest = waiting.communicate(timeout=300)
        waited = subprocess.CompletedProcess(waiting.args, waiting.returncode, out, first_line[0] + rest)
    finally:
        if fd is not None:
            os.close(fd)
    assert waited.returncode == 1, waited.stdout + waited.stderr  # the lab is broken: checks fail, honestly
    assert "waiting for `labs reset nginx-misconfig` (pid 4242)" in waited.stderr


def test_a_check_during_a_reset_never_breaks_it(labs, lab_instance, instance_name, state_dir):
    started = lab_instance("nginx-misconfig")
    assert started.returncode == 0, started.stderr
    env = {**labs.env}
    reset = subprocess.Popen([sys.executable, "-m", "orchestrator", "reset", "nginx-misconfig", "--instance", instance_name], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        checks = [labs("check", "nginx-misconfig", "--instance", instance_name, timeout=300) for _ in range(2)]
        statuses = [labs("status", "--json", timeout=60) for _ in range(3)]
        out, err = reset.communicate(timeout=300)
    finally:
        if reset.poll() is None:
            reset.kill()
    # Whoever comes first holds the instance: the reset runs (0), or, if a check got there first,
    # it is refused naming the check (6) and changes nothing. Never a broken reset (7).
    assert reset.returncode in (0, 6), f"reset failed while checks ran: {out}\n{err}"
    if reset.returncode == 6:
        assert "`labs check nginx-misconfig`" in err, err
    for result in checks:
        assert result.returncode in (1, 6), result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
    assert all(s.returncode == 0 for s in statuses)
    final = labs.json("status", "nginx-misconfig")[1]["instances"]
    assert [i["state"] for i in final if i["key"] == f"nginx-misconfig.{instance_name}"] == ["running"]


# --------------------------------------------------------------------------- conflicts say what happened


def test_colliding_resource_names_name_the_other_lab(labs, engine, tmp_path):
    """Lab `x` instance `y` and lab `x-y` need the same names: say so, never "wait for it"."""
    tag = f"c{uuid.uuid4().hex[:5]}"
    base = tmp_path / "labs"
    base.mkdir()
    _copy_lab("nginx-misconfig", base, tag, edit=_any_port)
    _copy_lab("nginx-misconfig", base, f"{tag}-y", edit=_any_port)
    env = {"LABS_PATH": str(base)}
    try:
        first = labs("start", f"{tag}-y", env=env, timeout=300)
        assert first.returncode == 0, first.stderr
        clash = labs("start", tag, "--instance", "y", env=env, timeout=300)
        stderr = one_error(clash, 6)
        assert f"already taken by {tag}-y" in stderr and "--instance" in stderr, stderr
        assert "wait" not in stderr.split("what to do:")[0]
        assert labelled(engine, instance=f"{tag}.y") == NOTHING
    finally:
        labs("stop", f"{tag}-y", env=env, timeout=120)
        labs("stop", tag, "--instance", "y", env=env, timeout=120)


def test_a_stop_by_another_user_during_start_is_a_conflict(labs, engine, tmp_path, instance_name):
    base = tmp_path / "labs"
    base.mkdir()
    lab_id = f"slow-{uuid.uuid4().hex[:5]}"
    folder = _copy_lab("nginx-misconfig", base, lab_id, edit=_any_port)
    (folder / "break.py").write_text('from pyinfra.operations import server\n\nserver.shell(name="a slow break", commands=["sleep 20"])\n')
    env = {**labs.env, "LABS_PATH": str(base)}
    key = f"{lab_id}.{instance_name}"
    start = subprocess.Popen([sys.executable, "-m", "orchestrator", "start", lab_id, "--instance", instance_name], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            running = [c for c in labelled(engine, instance=key)["containers"] if c.status == "running"]
            if len(running) == 2:
                break
            time.sleep(0.5)
        time.sleep(4)  # the break is running now
        other_user = {"LABS_STATE_DIR": str(tmp_path / "other-user")}
        stopped = labs("stop", lab_id, "--instance", instance_name, env={**other_user, "LABS_PATH": str(base)}, timeout=120)
        assert stopped.returncode == 0, stopped.stderr
        out, err = start.communicate(timeout=120)
    finally:
        if start.poll() is None:
            start.kill()
        labs("stop", lab_id, "--instance", instance_name, env={"LABS_PATH": str(base)}, timeout=120)
    result = subprocess.CompletedProcess(start.args, start.returncode, out, err)
    stderr = one_error(result, 6)
    assert "removed or stopped by another command" in stderr and "break.py" in stderr
    assert labelled(engine, instance=key) == NOTHING
