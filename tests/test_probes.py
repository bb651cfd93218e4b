"""The trusted probes (checks.context.LabContext over orchestrator.engine.archive/probes), on the
real engine: what a learner who is root in a lab container does to fool a check is seen.

One instance of nginx-misconfig (proxy: nginx image, app: app image) is shared by the module;
each test changes it the way a learner would, through the engine's exec, and asserts that the
probe sees it.
"""

from __future__ import annotations

import os
import time
import uuid

import pytest

pytestmark = pytest.mark.docker

LAB = "nginx-misconfig"


@pytest.fixture(scope="module")
def lab(engine, tmp_path_factory):
    os.environ.setdefault("LABS_STATE_DIR", str(tmp_path_factory.mktemp("probes-state")))
    from checks.context import LabContext
    from orchestrator.catalog import Catalog
    from orchestrator.engine.instances import get_instance
    from orchestrator.lifecycle import start_lab, stop_lab

    spec = Catalog.from_env().get(LAB)
    name = f"t{uuid.uuid4().hex[:8]}"
    try:
        start_lab(spec, name)
        instance = get_instance(engine, LAB, name)
        yield LabContext(engine, instance, spec)
    finally:
        stop_lab(LAB, name)


def learner(lab, service: str, script: str) -> str:
    """Do what a learner would, as root in the service's container."""
    from orchestrator.engine.client import exec_in

    result = exec_in(lab.container(service), ["sh", "-c", script], deadline=30)
    assert result.exit_code == 0, result.output
    return result.output


def no_probes_left(lab, engine) -> bool:
    return not engine.containers.list(all=True, filters={"label": [f"io.labs.instance={lab.instance.key}", "io.labs.probe=true"]})


# --------------------------------------------------------------------------- integrity


def test_a_shim_in_path_is_seen_and_the_pristine_tool_ignores_it(lab):
    learner(lab, "proxy", "printf '#!/bin/sh\\necho syntax is ok\\nexit 0\\n' > /usr/local/bin/nginx && chmod +x /usr/local/bin/nginx")
    assert any(p.startswith("/usr/local/bin/nginx was added") for p in lab.integrity("proxy")), lab.integrity("proxy")
    assert lab.changed_paths("proxy").get("/usr/local/bin/nginx") == "A"
    # nginx -t from the pristine image, on the learner's config: the shim answers nothing.
    result = lab.probe(["sh", "-c", "rm -rf /etc/nginx && cp -a /probe/etc/nginx /etc/nginx && nginx -t"],
                       image="nginx", join="proxy", copy={"/probe/etc/nginx": "proxy:/etc/nginx"})
    assert result.exit_code == 1 and "proxy_set_header" in result.stderr, result


def test_a_replaced_binary_is_seen(lab):
    learner(lab, "proxy", "cp /bin/true /usr/bin/curl")
    problems = lab.integrity("proxy")
    assert any(p.startswith("/usr/bin/curl was changed") and "content" in p for p in problems), problems


def test_a_chmod_and_an_edited_entrypoint_are_seen(lab):
    learner(lab, "app", "chmod 4755 /usr/bin/python3.11 && echo '# edited' >> /usr/local/bin/labs-init")
    problems = lab.integrity("app")
    assert any(p.startswith("/usr/bin/python3.11 was changed") and "mode 4755" in p for p in problems), problems
    assert any(p.startswith("/usr/local/bin/labs-init was changed") for p in problems), problems


def test_a_pth_hook_is_seen(lab):
    learner(lab, "app", "mkdir -p /usr/local/lib/python3.11/dist-packages /opt/hook && echo 'import os' > /usr/local/lib/python3.11/dist-packages/zz.pth && echo 'import os' > /opt/hook/x.pth")
    problems = lab.integrity("app")
    assert any(p.startswith("/usr/local/lib/python3.11/dist-packages/zz.pth was added") for p in problems), problems
    assert any(p.startswith("/opt/hook/x.pth was added") for p in problems), problems  # .pth anywhere counts


def test_a_touched_file_is_not_a_problem_and_named_paths_narrow_the_check(lab):
    learner(lab, "app", "touch /usr/bin/env && mkdir -p /srv/app/extra && echo x > /srv/app/extra/y")
    assert not any("/usr/bin/env" in p for p in lab.integrity("app"))
    assert any(p.startswith("/srv/app/extra/y was added") for p in lab.integrity("app", paths=["/srv/app"]))
    assert lab.integrity("app", paths=["/var/empty-nothing"]) == []
    both = lab.integrity("app", also=["/srv/app"])  # the default roots, and more
    assert any(p.startswith("/srv/app/extra/y was added") for p in both) and any("labs-init" in p for p in both)


# --------------------------------------------------------------------------- files through the engine


def test_an_acl_is_read_and_decoded(lab, engine):
    # setfacl is not in the lab images: write the binary xattr as a learner's setfacl would.
    learner(lab, "app", "echo secret > /srv/app/settings && chmod 640 /srv/app/settings && python3 -c \""
                        "import os, struct; os.setxattr('/srv/app/settings', 'system.posix_acl_access', "
                        "struct.pack('<I', 2) + b''.join(struct.pack('<HHI', t, p, i) for t, p, i in "
                        "((1, 6, 0xffffffff), (2, 4, 33), (4, 4, 0xffffffff), (16, 4, 0xffffffff), (32, 0, 0xffffffff))))\"")
    info = lab.read_file("app", "/srv/app/settings")
    assert info.mode == 0o640  # the mode bits alone say "others cannot read"
    assert info.acl == ["user::rw-", "user:www-data:r--", "group::r--", "mask::r--", "other::---"]
    assert "user:www-data:r--" in next(f for f in lab.walk("app", "/srv/app") if f.path == "/srv/app/settings").acl
    assert lab.read_file("app", "/srv/app/app.py").acl == []
    assert no_probes_left(lab, engine)


def test_symlinks_are_resolved_inside_the_container(lab):
    learner(lab, "proxy", "mkdir -p /srv/t/sub && cd /srv/t && echo inside > real && chmod 600 real && ln -s real rel && ln -s /srv/t/real abs "
                          "&& ln -s rel chain && ln -s ../real sub/up && ln -s loop2 loop1 && ln -s loop1 loop2 && ln -s /nope dangling && ln -s /srv/t dirlink")
    for name in ("rel", "abs", "chain", "sub/up", "dirlink/real"):
        info = lab.read_file("proxy", f"/srv/t/{name}")
        assert info is not None and info.kind == "file" and info.mode == 0o600 and info.content == b"inside\n", (name, info)
        assert info.real_path in ("/srv/t/real", "/srv/t/dirlink/real") and info.path == f"/srv/t/{name}"
    link = lab.read_file("proxy", "/srv/t/abs", follow=False)
    assert link.kind == "symlink" and link.link_target == "/srv/t/real" and link.content is None
    assert lab.read_file("proxy", "/srv/t/loop1") is None
    assert lab.read_file("proxy", "/srv/t/dangling") is None
    assert lab.read_file("proxy", "/srv/t/dangling", follow=False).kind == "symlink"
    entries = {f.path: f for f in lab.walk("proxy", "/srv/t/dirlink")}  # a symlinked root is followed
    assert entries["/srv/t"].kind == "dir" and entries["/srv/t/rel"].kind == "symlink" and entries["/srv/t/real"].content == b"inside\n"
    assert lab.walk("proxy", "/srv/none") == []


def test_a_truncated_log_is_seen_and_the_engine_log_keeps_the_trace(lab):
    trace = lab.trace_id()
    assert trace != lab.trace_id()
    since = time.time() - 1
    result = lab.probe(["curl", "-s", f"http://app:8000/?probe={trace}"], image="probe")
    assert result.ok and lab.nonce in result.stdout
    learner(lab, "proxy", "mkdir -p /var/log/orders && seq 1 500 > /var/log/orders/audit.log")
    before = lab.read_file("proxy", "/var/log/orders/audit.log")
    learner(lab, "proxy", ": > /var/log/orders/audit.log; : > /proc/1/fd/1 || true")
    after = lab.read_file("proxy", "/var/log/orders/audit.log")
    assert before.size > 0 and after.size == 0 and lab.changed_paths("proxy")["/var/log/orders/audit.log"] == "A"
    learner(lab, "app", ": > /proc/1/fd/1 2>/dev/null || true")  # a learner cannot empty the engine's log
    assert trace in lab.logs("app", since=since)
    assert trace in lab.logs("app")


# --------------------------------------------------------------------------- probe containers


def test_a_probe_is_pristine_hardened_labelled_and_removed(lab, engine):
    learner(lab, "app", "printf '#!/bin/sh\\necho fake\\n' > /usr/local/bin/curl && chmod +x /usr/local/bin/curl")
    result = lab.probe(["sh", "-c", "command -v curl; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; echo $WHO"], service="app", env={"WHO": "probe"})
    assert result.ok, result
    assert result.stdout.splitlines()[0] == "/usr/bin/curl"  # the app image's own curl, not the shim
    status = dict(line.split(":\t") for line in result.stdout.splitlines()[1:3])
    service_caps = engine.api.inspect_container(lab.container("app").id)["HostConfig"]["CapAdd"]
    assert int(status["CapEff"], 16) == _capability_mask(service_caps) and status["NoNewPrivs"] == "1"
    assert result.stdout.splitlines()[-1] == "probe"
    assert no_probes_left(lab, engine)


def _capability_mask(names: list[str]) -> int:
    numbers = {"CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "KILL": 5, "SETGID": 6, "SETUID": 7, "NET_BIND_SERVICE": 10}
    return sum(1 << numbers[n.removeprefix("CAP_")] for n in names)


def test_a_probe_joins_a_service_network_and_pid_namespace(lab):
    alone = lab.probe(["curl", "-s", "--max-time", "3", "http://127.0.0.1:8000/healthz"], image="probe")
    assert not alone.ok  # its own loopback: nothing listens there
    joined = lab.probe(["curl", "-s", "--max-time", "3", "http://127.0.0.1:8000/healthz"], image="probe", join="app")
    assert joined.ok and joined.stdout == "ok\n"
    processes = lab.probe(["ps", "-eo", "args"], image="probe", join="app", pid=True)
    assert "python3 -u /srv/app/app.py" in processes.stdout


def test_a_probe_on_the_lab_network_finds_services_at_the_engines_addresses(lab, engine):
    """Without the engine's embedded DNS (it fails under load): the host entries a probe is
    given are the addresses the engine reports for each service right now, and they answer."""
    network = lab.instance.network.id
    addresses = {s: engine.api.inspect_container(lab.container(s).id)["NetworkSettings"]["Networks"] for s in ("app", "proxy")}
    addresses = {s: next(e["IPAddress"] for e in nets.values() if e["NetworkID"] == network) for s, nets in addresses.items()}
    # Resolver pointed nowhere (no DNS server answers): only the host entries can name the services.
    result = lab.probe(["sh", "-c", "echo 'nameserver 127.0.0.1' > /etc/resolv.conf; getent hosts app proxy; curl -s --max-time 5 http://app:8000/healthz"], image="probe")
    assert result.ok, result.output
    found = dict(reversed(line.split()) for line in result.stdout.splitlines()[:2])
    assert found == {"app": addresses["app"], "proxy": addresses["proxy"]}, result.stdout
    assert result.stdout.splitlines()[-1] == "ok"


def test_a_probe_gets_copies_and_a_deadline(lab, engine):
    result = lab.probe(["sh", "-c", "ls -l /probe/etc/nginx/sites-enabled; cat /probe/etc/nginx/snippets/orders-proxy.conf"],
                       image="probe", copy={"/probe/etc/nginx": "proxy:/etc/nginx"})
    assert result.ok and "orders -> /etc/nginx/sites-available/orders" in result.stdout and "X-Real-IP $remote_addr\n" in result.stdout
    slow = lab.probe(["sleep", "60"], image="probe", timeout=2)
    assert slow.timed_out and slow.exit_code == 124 and "killed after 2 s" in slow.stderr
    assert no_probes_left(lab, engine)


def test_restart_all_ends_hand_started_processes_everywhere(lab):
    learner(lab, "app", "nohup sleep 1234 >/dev/null 2>&1 &")
    assert "sleep 1234" in lab.probe(["ps", "-eo", "args"], image="probe", join="app", pid=True).stdout
    lab.restart_all()
    assert "sleep 1234" not in lab.probe(["ps", "-eo", "args"], image="probe", join="app", pid=True).stdout
    proxy = lab.instance.container("proxy")
    proxy.reload()
    assert proxy.status == "running"
