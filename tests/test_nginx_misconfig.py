"""End to end on the real engine: nginx-misconfig from broken to fixed and back, and a clean stop."""

from __future__ import annotations

import base64
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ctrl_c_reaches_it, labelled, signal_after_line

pytestmark = pytest.mark.docker

SHIPPED = Path(__file__).resolve().parent.parent / "labs"
LAB = "nginx-misconfig"
BROKEN_AT_START = {
    "test_nginx_config_valid",
    "test_site_through_proxy",
    "test_static_assets",
    "test_survives_restart",
}


def _verdicts(labs, name):
    result, report = labs.json("check", LAB, "--instance", name)
    return result.returncode, {o["id"]: o for o in report["objectives"]}


def test_broken_then_solved_then_reset_then_stopped(labs, engine, lab_instance, instance_name):
    started = lab_instance(LAB)
    assert started.returncode == 0, started.stderr
    assert "INC-4172" in started.stdout  # the briefing is shown
    key = f"{LAB}.{instance_name}"

    # Ports are published on the loopback only.
    for container in labelled(engine, instance=key)["containers"]:
        for bindings in (container.attrs["NetworkSettings"]["Ports"] or {}).values():
            for binding in bindings or []:
                assert binding["HostIp"] == "127.0.0.1", f"{container.name} publishes on {binding}"

    code, verdicts = _verdicts(labs, instance_name)
    assert code == 1
    assert {i for i, o in verdicts.items() if not o["passed"]} == BROKEN_AT_START
    assert verdicts["test_app_unmodified"]["passed"]
    for objective in BROKEN_AT_START:
        assert verdicts[objective]["message"], f"{objective} failed without saying what it saw"
    # nginx is simply down: the stylesheet verdict says so instead of pointing at root/alias.
    static = verdicts["test_static_assets"]["message"]
    assert "nginx is not running" in static and "/static/ location" not in static
    assert verdicts["test_survives_restart"]["message"].startswith("the site does not work yet, so persistence is not tested")

    table = labs("check", LAB, "--instance", instance_name)
    assert table.returncode == 1 and "✗" in table.stdout and "1/5 objectives pass" in table.stdout

    result, solved = labs.json("solve", LAB, "--instance", instance_name)
    assert result.returncode == 0 and solved["changed"] > 0
    code, verdicts = _verdicts(labs, instance_name)
    assert code == 0, {i: o["message"] for i, o in verdicts.items() if not o["passed"]}

    result, again = labs.json("solve", LAB, "--instance", instance_name)
    assert result.returncode == 0 and again["changed"] == 0, "the reference solution is not idempotent"

    result = labs("reset", LAB, "--instance", instance_name)
    assert result.returncode == 0, result.stderr
    code, verdicts = _verdicts(labs, instance_name)
    assert code == 1 and {i for i, o in verdicts.items() if not o["passed"]} == BROKEN_AT_START

    result, status = labs.json("status", LAB)
    mine = [s for s in status["instances"] if s["key"] == key]
    assert mine and mine[0]["state"] == "running"

    result = labs("stop", LAB, "--instance", instance_name)
    assert result.returncode == 0 and f"stopped {key}" in result.stdout
    assert labelled(engine, instance=key) == {"containers": [], "networks": [], "volumes": []}


def test_starting_a_running_lab_changes_nothing(labs, engine, lab_instance, instance_name):
    assert lab_instance(LAB).returncode == 0
    key = f"{LAB}.{instance_name}"
    before = {c.id for c in labelled(engine, instance=key)["containers"]}
    again = labs("start", LAB, "--instance", instance_name)
    assert again.returncode == 0 and "already running" in again.stdout
    assert {c.id for c in labelled(engine, instance=key)["containers"]} == before
    log = labs("logs", LAB, "app", "--instance", instance_name, "--tail", "5")
    assert log.returncode == 0 and "GET /healthz" in log.stdout  # the app's access log


def test_a_runtime_only_fix_is_not_blamed_on_persistence(labs, engine, lab_instance, instance_name):
    """nginx started by hand on a private config: the site answers, but nginx -t on the files
    fails, and the restart verdict says what fails instead of blaming persistence."""
    assert lab_instance(LAB).returncode == 0
    proxy = labelled(engine, instance=f"{LAB}.{instance_name}", service="proxy")["containers"][0]
    files = SHIPPED / LAB / "files"
    site = (files / "orders.conf").read_text().replace("include snippets/orders-proxy.conf;", (files / "orders-proxy.conf").read_text())
    private = "pid /tmp/hand.pid; events {} http { include /etc/nginx/mime.types; %s }" % site
    script = f"echo {base64.b64encode(private.encode()).decode()} | base64 -d > /tmp/hand.conf && nginx -c /tmp/hand.conf"
    code, output = proxy.exec_run(["sh", "-c", script])
    assert code == 0, output
    code, verdicts = _verdicts(labs, instance_name)
    assert code == 1
    assert verdicts["test_site_through_proxy"]["passed"], verdicts["test_site_through_proxy"]["message"]
    assert not verdicts["test_nginx_config_valid"]["passed"]
    restart = verdicts["test_survives_restart"]
    assert not restart["passed"] and restart["message"].startswith("the site does not work yet, so persistence is not tested")
    assert "lost on restart" not in restart["message"]


def test_ctrl_c_during_start_leaves_nothing(labs, engine, instance_name):
    key = f"{LAB}.{instance_name}"
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "start", LAB, "--instance", instance_name],
        env=labs.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_reaches_it,
    )
    try:
        # While it waits for the services (the break follows; tests/test_reliability.py interrupts that)
        stderr = signal_after_line(process, "waiting for the environment", signal.SIGINT)
        process.wait(timeout=120)
        assert process.returncode == 130, stderr
        assert "Traceback" not in stderr and "rolled back" in stderr
        assert labelled(engine, instance=key) == {"containers": [], "networks": [], "volumes": []}
    finally:
        if process.poll() is None:
            process.kill()
        labs("stop", LAB, "--instance", instance_name)


def test_status_and_stop_work_after_the_lab_folder_is_gone(labs, engine, tmp_path, instance_name):
    own = tmp_path / "mine"
    shutil.copytree(SHIPPED / LAB, own / LAB)
    key = f"{LAB}.{instance_name}"
    try:
        started = labs("start", LAB, "--instance", instance_name, "--labs-dir", str(own))
        assert started.returncode == 0, started.stderr
        shutil.rmtree(own)
        result, status = labs.json("status")
        assert [s for s in status["instances"] if s["key"] == key][0]["state"] == "running"
        engine.containers.list(filters={"label": [f"io.labs.instance={key}", "io.labs.service=app"]})[0].remove(force=True)
        result, status = labs.json("status")
        mine = [s for s in status["instances"] if s["key"] == key][0]
        assert mine["state"] == "degraded" and mine["services"]["app"] == "missing"
        stopped = labs("stop", LAB, "--instance", instance_name)
        assert stopped.returncode == 0
        assert labelled(engine, instance=key) == {"containers": [], "networks": [], "volumes": []}
    finally:
        labs("stop", LAB, "--instance", instance_name)


# --------------------------------------------------------------------------- shortcuts and valid fixes, on one instance

# Each shipped shortcut (labs/nginx-misconfig/shortcuts/) -> the objective that must catch it, and
# whether it must be the ONLY failing one (the class it stands for is caught by that probe alone).
SHORTCUTS = {
    "shim-nginx-in-path": ("test_nginx_config_valid", False),  # the learner owns the tool
    "page-copy-return-200": ("test_site_through_proxy", False),  # no proof of the real path
    "app-copy-started-by-hand": ("test_survives_restart", True),  # persistence proven on one service only
    "app-patched-second-port": ("test_app_unmodified", True),  # "app unmodified" hashed one file only
    "emptied-stylesheet": ("test_static_assets", False),  # compared with the current state, not the truth
    "stale-stylesheet-copy": ("test_static_assets", False),  # a stale copy elsewhere
    "stylesheet-return-200": ("test_static_assets", False),  # the CSS pasted into a `return 200`
}

# Valid fixes other than the reference solution, applied as a learner would (a shell in the proxy).
ALTERNATIVES = {
    # No upstream block: proxy_pass names the app directly; /static/ by a nested root.
    "direct-proxy-pass-and-nested-root": (
        "sed -i 's/X-Real-IP $remote_addr$/X-Real-IP $remote_addr;/' /etc/nginx/snippets/orders-proxy.conf && "
        "cat > /etc/nginx/sites-available/orders <<'CONF'\n"
        "server {\n    listen 80 default_server;\n    server_name _;\n"
        "    location / {\n        include snippets/orders-proxy.conf;\n        proxy_pass http://app:8000;\n    }\n"
        "    location /static/ {\n        root /srv/orders;\n    }\n}\nCONF\n"
        "nginx -t && nginx"
    ),
    # The snippet left broken but no longer included (headers inline), the upstream edited in
    # place, and a prefix location with ^~ and alias.
    "inline-headers-and-edited-upstream": (
        "sed -i -e 's/server app:8080;/server app:8000;/' "
        "-e 's|include snippets/orders-proxy.conf;|proxy_set_header Host $host; proxy_set_header X-Real-IP $remote_addr;|' "
        "-e 's|location /static/ {|location ^~ /static/ {|' -e 's|root /srv/orders/static;|alias /srv/orders/static/;|' "
        "/etc/nginx/sites-available/orders && nginx -t && nginx"
    ),
    # The app named by its container's name on the lab network, the site enabled by a copy
    # instead of the symlink, and alias for /static/.
    "container-name-upstream": (
        "sed -i 's/X-Real-IP $remote_addr$/X-Real-IP $remote_addr;/' /etc/nginx/snippets/orders-proxy.conf && "
        "sed -e 's/server app:8080;/server ${APP_NAME}:8000;/' -e 's|root /srv/orders/static;|alias /srv/orders/static/;|' "
        "/etc/nginx/sites-available/orders > /tmp/orders && rm /etc/nginx/sites-enabled/orders && "
        "mv /tmp/orders /etc/nginx/sites-enabled/orders && nginx -t && nginx"
    ),
}


@pytest.fixture(scope="module")
def shared(engine, tmp_path_factory):
    """One instance for the shortcut and valid-fix tests (each starts from a reset)."""
    import uuid

    from tests.conftest import Labs

    labs = Labs(tmp_path_factory.mktemp("nginx-state"))
    name = f"t{uuid.uuid4().hex[:8]}"
    started = labs("start", LAB, "--instance", name)
    assert started.returncode == 0, started.stderr
    try:
        yield labs, name
    finally:
        labs("stop", LAB, "--instance", name)


def _reset(labs, name) -> None:
    result = labs("reset", LAB, "--instance", name)
    assert result.returncode == 0, result.stderr


def _apply_shortcut(labs, name: str, shortcut: str) -> None:
    """Apply a shipped shortcut the way `labs validate` does (its pyinfra deploy, in a process of its own)."""
    code = (
        "import sys; from pathlib import Path; from orchestrator.catalog import Catalog; from orchestrator.lifecycle import solve_lab; "
        f"lab = Catalog.from_env().get({LAB!r}); solve_lab(lab, {name!r}, deploy=lab.folder / 'shortcuts' / {shortcut + '.py'!r})"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=labs.env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_shipped_shortcut_is_tested():
    shipped = sorted(p.stem for p in (SHIPPED / LAB / "shortcuts").glob("[!_]*.py"))
    assert shipped == sorted(SHORTCUTS) and len(shipped) >= 5


@pytest.mark.parametrize("shortcut", list(SHORTCUTS))
def test_a_shortcut_fails_on_its_objective(shared, shortcut):
    labs, name = shared
    _reset(labs, name)
    _apply_shortcut(labs, name, shortcut)
    code, verdicts = _verdicts(labs, name)
    catcher, alone = SHORTCUTS[shortcut]
    failing = {i for i, o in verdicts.items() if not o["passed"]}
    assert code == 1 and catcher in failing, f"{shortcut} must fail {catcher}: {verdicts}"
    if alone:
        assert failing == {catcher}, f"{shortcut}: only {catcher} should see it, yet {failing} failed: {verdicts}"
    for objective in failing:
        message = verdicts[objective]["message"]
        assert message and "Traceback" not in message and "could not set up" not in message, message


@pytest.mark.parametrize("fix", list(ALTERNATIVES))
def test_an_alternative_valid_fix_passes(shared, fix, engine):
    labs, name = shared
    _reset(labs, name)
    app = labelled(engine, instance=f"{LAB}.{name}", service="app")["containers"][0]
    script = ALTERNATIVES[fix].replace("${APP_NAME}", app.name)
    result = labs("shell", LAB, "proxy", "--instance", name, "--", "sh", "-c", script)
    assert result.returncode == 0, result.stdout + result.stderr
    code, verdicts = _verdicts(labs, name)
    assert code == 0, {i: o["message"] for i, o in verdicts.items() if not o["passed"]}


def test_the_break_leaves_nginx_really_down(shared, engine):
    """No pre-break master survives the break, and no pid file is left for a reload to trip on."""
    from checks.context import LabContext
    from orchestrator.catalog import Catalog
    from orchestrator.engine.instances import get_instance

    labs, name = shared
    _reset(labs, name)
    lab = LabContext(engine, get_instance(engine, LAB, name), Catalog.from_env().get(LAB))
    processes = lab.probe(["ps", "-eo", "comm="], image="probe", join="proxy", pid=True)
    assert processes.ok and "tini" in processes.stdout.split(), processes
    assert "nginx" not in processes.stdout.split(), processes.stdout
    assert lab.read_file("proxy", "/run/nginx.pid") is None


def test_the_solved_lab_passes_under_cpu_load(shared):
    """Two busy loops on the two cores (bounded: 60 s, killed at the end) while the solved lab is
    checked: every verdict must still pass (no timing is asserted)."""
    labs, name = shared
    _reset(labs, name)
    solved = labs("solve", LAB, "--instance", name)
    assert solved.returncode == 0, solved.stderr
    loop = "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end:\n    pass\n"
    burners = [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(2)]
    try:
        code, verdicts = _verdicts(labs, name)
        assert code == 0, {i: o["message"] for i, o in verdicts.items() if not o["passed"]}
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
