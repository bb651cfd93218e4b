"""write-a-deploy end to end: a fresh environment is not already built, two deploys other than the
reference one pass every objective (the shipped shortcuts are proven to fail by `labs validate`'s
shortcuts phase), the fresh targets a check makes are gone when it ends, and nothing of the
learner's deploy runs on this machine: its Python and pyinfra's local commands run in a fresh
workstation container, its operations on a fresh target.
"""

from __future__ import annotations

import socket

import pytest

from tests.lab_driver import LabDriver

pytestmark = pytest.mark.docker

LAB = "write-a-deploy"
ALL = {"test_lab_target_built", "test_first_run_builds_the_server", "test_second_run_changes_nothing", "test_site_survives_restart"}

# Everything from templates in the workspace, services enabled with files.link (runsvdir notices
# the link by itself) and restarted with guarded shell commands, the site in conf.d.
TEMPLATES_DEPLOY = r'''"""The orders web server from templates, enabled with links."""
from pyinfra import host
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

data = dict(token=host.data.orders_token, port=host.data.orders_port, server_name=host.data.server_name)
server.user(name="orders", user="orders", system=True, shell="/usr/sbin/nologin")
app = files.put(name="app", src="files/orders.py", dest="/usr/local/lib/orders.py", mode="644")
config = files.template(name="config", src="files/orders.conf.j2", dest="/etc/orders.conf", group="orders", mode="640", **data)
files.directory(name="sv orders", path="/etc/sv/orders")
run = files.template(name="run orders", src="files/run-orders.j2", dest="/etc/sv/orders/run", mode="755")
files.link(name="enable orders", path="/etc/service/orders", target="/etc/sv/orders")
server.shell(name="restart orders", commands=["sv restart orders || true"], _if=any_changed(app, config, run))
files.directory(name="docroot", path="/var/www/orders")
files.template(name="page", src="files/index.html.j2", dest="/var/www/orders/index.html", mode="644", **data)
site = files.template(name="site", src="files/site.j2", dest="/etc/nginx/conf.d/orders.conf", mode="644", **data)
files.directory(name="sv nginx", path="/etc/sv/nginx")
nginx_run = files.put(name="run nginx", src="files/run-nginx", dest="/etc/sv/nginx/run", mode="755")
files.link(name="enable nginx", path="/etc/service/nginx", target="/etc/sv/nginx")
server.shell(name="reload nginx", commands=["sv hup nginx || true"], _if=any_changed(site, nginx_run))
'''
TEMPLATES_FILES = {
    "orders.conf.j2": "port = {{ port }}\ntoken = {{ token }}\n",
    "run-orders.j2": "#!/bin/sh\nexec 2>&1\nexport ORDERS_CONFIG=/etc/orders.conf\nexec chpst -u orders python3 /usr/local/lib/orders.py\n",
    "run-nginx": "#!/bin/sh\nexec 2>&1\nexec nginx -g 'daemon off;'\n",
    "site.j2": (
        "server {\n  listen 80;\n  server_name {{ server_name }};\n  root /var/www/orders;\n"
        "  location /api/ { proxy_pass http://127.0.0.1:{{ port }}; }\n}\n"
    ),
}

# Inline content (files.put from strings), pyinfra's runit operations for both services, the
# app's config in an environment-style folder of its own.
INLINE_DEPLOY = r'''"""The orders web server from inline content, with pyinfra's runit operations."""
from io import StringIO
from pyinfra import host
from pyinfra.operations import files, runit, server
from pyinfra.operations.util import any_changed

port, token, name = host.data.orders_port, host.data.orders_token, host.data.server_name
server.group(name="group", group="orders", system=True)
server.user(name="user", user="orders", group="orders", system=True, shell="/usr/sbin/nologin")
files.directory(name="home", path="/srv/orders-app", mode="755")
app = files.put(name="app", src="files/orders.py", dest="/srv/orders-app/app.py")
config = files.put(name="config", src=StringIO(f"# orders\nport = {port}\ntoken = {token}\n"), dest="/srv/orders-app/orders.conf", user="root", group="orders", mode="640")
files.directory(name="sv", path="/etc/sv/orders-app")
run = files.put(name="run", src=StringIO("#!/bin/sh\nexec 2>&1\nORDERS_CONFIG=/srv/orders-app/orders.conf exec chpst -u orders python3 -u /srv/orders-app/app.py\n"), dest="/etc/sv/orders-app/run", mode="755")
runit.service(name="app on", service="orders-app", svdir="/etc/service")
runit.service(name="app restart", service="orders-app", svdir="/etc/service", restarted=True, _if=any_changed(app, config, run))
files.put(name="page", src=StringIO(f"<h1>Orders at {name}</h1>\n"), dest="/var/www/html/orders.html", mode="644")
site = files.put(name="site", src=StringIO(
    "server { listen 80; server_name %s; root /var/www/html; index orders.html;\n"
    "  location /api/ { proxy_pass http://127.0.0.1:%s; } }\n" % (name, port)),
    dest="/etc/nginx/sites-enabled/orders", mode="644")
files.directory(name="sv nginx", path="/etc/sv/nginx")
nginx_run = files.put(name="nginx run", src=StringIO("#!/bin/sh\nexec nginx -g 'daemon off;' 2>&1\n"), dest="/etc/sv/nginx/run", mode="755")
runit.service(name="nginx on", service="nginx", svdir="/etc/service")
runit.service(name="nginx reload", service="nginx", svdir="/etc/service", reloaded=True, _if=any_changed(site, nginx_run))
'''

# Tries to reach this machine every way a deploy's code can: its own Python at import time and
# pyinfra's local commands, both writing to a path here; then stops with what it saw, so the
# check's verdict shows where it ran.
ESCAPE_DEPLOY = r'''"""A deploy that tries to write on the machine running `labs check`."""
import os, socket
from pyinfra import local

os.makedirs(os.path.dirname(MARK), exist_ok=True)
with open(MARK + "-python", "w") as mark:
    mark.write("written by the deploy's python\n")
local.shell(f"touch {MARK}-local")
found = [p for p in (MARK + "-python", MARK + "-local") if os.path.exists(p)]
raise SystemExit(f"ESCAPE-REPORT wrote {len(found)} marks on host {socket.gethostname()}")
'''


TRY = "cd /workspace && pyinfra -y inventory.py deploy.py"  # as the learner tries it on the lab's target


def _written(path: str, content: str) -> str:
    """A shell script that writes ``content`` to ``path`` in the workstation."""
    return f"mkdir -p /workspace/files && cat > {path} <<'LABS_EOF'\n{content}LABS_EOF\n"


def _no_fresh_containers_left(engine, name: str) -> None:
    left = [c.name for c in engine.containers.list(all=True, filters={"label": [f"io.labs.instance={LAB}.{name}", "io.labs.probe=true"]})]
    assert left == [], f"the check left its fresh containers behind: {left}"


def test_fresh_environment_is_not_already_built_and_other_deploys_pass(labs, lab_instance, instance_name, engine):
    lab = LabDriver(labs, LAB, instance_name, lab_instance).start()
    _, objectives, _ = lab.check()
    assert lab.failing(objectives) == ALL
    assert "/workspace/deploy.py" in objectives["test_first_run_builds_the_server"]["message"]
    templates = [_written(f"/workspace/files/{file}", content) for file, content in TEMPLATES_FILES.items()]
    lab.fix_passes([("workstation", script) for script in templates + [_written("/workspace/deploy.py", TEMPLATES_DEPLOY), TRY]], "templates-and-links")
    _no_fresh_containers_left(engine, instance_name)
    lab.reset()
    lab.fix_passes([("workstation", _written("/workspace/deploy.py", INLINE_DEPLOY)), ("workstation", TRY)], "inline-and-runit-ops")
    _no_fresh_containers_left(engine, instance_name)


def test_the_deploy_never_runs_on_this_machine(labs, lab_instance, instance_name, engine, tmp_path):
    mark = str(tmp_path / "escape" / "mark")
    lab = LabDriver(labs, LAB, instance_name, lab_instance).start()
    lab.shell("workstation", _written("/workspace/deploy.py", f"MARK = {mark!r}\n" + ESCAPE_DEPLOY))
    _, objectives, _ = lab.check()
    assert lab.failing(objectives) == ALL
    verdict = objectives["test_first_run_builds_the_server"]["message"]
    # It ran, and its writes landed (in the fresh workstation container the check made) ...
    assert "ESCAPE-REPORT wrote 2 marks on host" in verdict, verdict
    ran_on = verdict.split("ESCAPE-REPORT wrote 2 marks on host", 1)[1].split()[0]
    assert ran_on != socket.gethostname(), verdict
    # ... never here.
    assert not (tmp_path / "escape").exists(), "the learner's deploy wrote on the machine running labs check"
    _no_fresh_containers_left(engine, instance_name)


def test_fresh_service_is_confined_labelled_and_removed(labs, lab_instance, instance_name, engine):
    """lab.fresh_service: a new container of a service's pristine image with planted files, on the
    lab network, confined like the service, never counted as a service, removed when the check is
    done, and by `labs stop` when a check died holding one."""
    from checks.context import LabContext
    from orchestrator.catalog import Catalog
    from orchestrator.engine.fresh import create_fresh_copy
    from orchestrator.engine.instances import get_instance

    LabDriver(labs, LAB, instance_name, lab_instance).start()
    instance = get_instance(engine, LAB, instance_name)
    lab = LabContext(engine, instance, Catalog.from_env().get(LAB))
    service = instance.containers["target"]
    with lab.fresh_service("target", files={"/root/.ssh/authorized_keys": (b"planted\n", 0o600)}) as fresh:
        planted = fresh.read_file("/root/.ssh/authorized_keys")
        assert (planted.content, planted.mode) == (b"planted\n", 0o600)
        fresh.container.reload()
        host = fresh.container.attrs["HostConfig"]
        assert fresh.container.attrs["Image"] == service.attrs["Image"]
        assert sorted(host["CapAdd"]) == sorted(service.attrs["HostConfig"]["CapAdd"]) and host["CapDrop"] == ["ALL"]
        assert host["Memory"] == service.attrs["HostConfig"]["Memory"] and not host["Privileged"]
        assert fresh.container.labels["io.labs.probe"] == "true"
        assert fresh.container.labels["io.labs.instance"] == f"{LAB}.{instance_name}"
        assert instance.network.name in fresh.container.attrs["NetworkSettings"]["Networks"]
        reached = lab.probe(["python3", "-c", f"import socket; socket.create_connection(({fresh.name!r}, 22), timeout=5)"], image="probe")
        assert reached.ok, reached.output
        status, _ = labs.json("status", LAB)
        assert fresh.name not in status.stdout, "a fresh copy must never be counted as a service"
    _no_fresh_containers_left(engine, instance_name)
    left_behind = create_fresh_copy(instance, service)  # as if a check died holding it
    assert labs("stop", LAB, "--instance", instance_name).returncode == 0
    assert not engine.containers.list(all=True, filters={"id": left_behind.id})
