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

from tests.conftest import labelled

pytestmark = pytest.mark.docker

SHIPPED = Path(__file__).resolve().parent.parent / "labs"
LAB = "nginx-misconfig"
BROKEN_AT_START = {
    "test_nginx_config_valid",
    "test_site_through_proxy",
    "test_static_assets",
    "test_survives_reload",
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

    table = labs("check", LAB, "--instance", instance_name)
    assert table.returncode == 1 and "✗" in table.stdout and "1/6 objectives pass" in table.stdout

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


def test_a_runtime_only_fix_does_not_survive_a_restart(labs, engine, lab_instance, instance_name):
    """Fixing nginx by hand-starting it on a private config passes the live objectives but not the restart one."""
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
    assert not verdicts["test_survives_restart"]["passed"]
    assert "after restarting the proxy container" in verdicts["test_survives_restart"]["message"]


def test_a_static_copy_of_the_page_does_not_pass(labs, engine, lab_instance, instance_name):
    """Serving a saved copy of the app's page from nginx cannot pass: each check asks a fresh question."""
    assert lab_instance(LAB).returncode == 0
    key = f"{LAB}.{instance_name}"
    proxy = labelled(engine, instance=key, service="proxy")["containers"][0]
    app = labelled(engine, instance=key, service="app")["containers"][0]
    code, page = app.exec_run(["curl", "-s", "http://127.0.0.1:8000/?probe=copied"])
    assert code == 0 and b"instance" in page
    site = "server { listen 80 default_server; root /srv/copy; location / { try_files /index.html =404; } }"
    script = (
        f"mkdir -p /srv/copy && cat > /srv/copy/index.html && echo '{site}' > /etc/nginx/sites-available/orders && "
        "echo '' > /etc/nginx/snippets/orders-proxy.conf && nginx -t && nginx"
    )
    fake = subprocess.run(
        [sys.executable, "-m", "orchestrator", "shell", LAB, "proxy", "--instance", instance_name, "--", "sh", "-c", script],
        input=page, capture_output=True, env=labs.env, timeout=60,
    )
    assert fake.returncode == 0, fake.stderr
    code, verdicts = _verdicts(labs, instance_name)
    assert code == 1
    assert not verdicts["test_site_through_proxy"]["passed"]
    assert "not with this instance's live app page" in verdicts["test_site_through_proxy"]["message"]
    assert verdicts["test_nginx_config_valid"]["passed"]


def test_ctrl_c_during_start_leaves_nothing(labs, engine, instance_name):
    key = f"{LAB}.{instance_name}"
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator", "start", LAB, "--instance", instance_name],
        env=labs.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not labelled(engine, instance=key)["containers"] and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
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
