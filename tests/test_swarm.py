"""The Swarm engine end to end on a single-node swarm: labs as Swarm services, checked, solved,
reset and stopped with nothing left; one instance per claim across simultaneous starts.

The session fixture makes this machine's engine a swarm manager when it is not one (and leaves
the swarm at the end only then). Every `labs` call runs with LABS_ENGINE=swarm.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import Labs

pytestmark = [pytest.mark.docker, pytest.mark.swarm]

STEP = 600  # seconds any one labs command may take (the machine is shared and busy)


@pytest.fixture(scope="session")
def swarm(engine):
    """This engine as a swarm manager; left again at the end only when this fixture made it one."""
    state = (engine.info().get("Swarm") or {}).get("LocalNodeState")
    created = False
    if state != "active":
        subprocess.run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], check=True, capture_output=True, timeout=120)
        created = True
    yield engine
    if created:
        subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True, timeout=120)


@pytest.fixture
def swarm_labs(swarm, tmp_path):
    return Labs(tmp_path / "state", {"LABS_ENGINE": "swarm"})


def _everything(engine, key: str) -> list[str]:
    """Every service, network, config, container and volume labelled with instance ``key``."""
    selector = {"label": [f"io.labs.instance={key}"]}
    found = [f"service {s.name}" for s in engine.services.list(filters=selector)]
    found += [f"network {n.name}" for n in engine.networks.list(filters=selector)]
    found += [f"config {c.name}" for c in engine.configs.list(filters=selector)]
    found += [f"container {c.name}" for c in engine.containers.list(all=True, filters=selector, ignore_removed=True)]
    found += [f"volume {v.name}" for v in engine.volumes.list(filters=selector)]
    return found


@pytest.fixture
def swarm_instance(swarm, swarm_labs):
    """A fresh instance name; whatever a test started under it is stopped afterwards."""
    name = f"s{uuid.uuid4().hex[:8]}"
    started: list[str] = []
    yield name, started
    for lab_id in started:
        swarm_labs("stop", lab_id, "--instance", name, timeout=STEP)


def _verdicts(labs, lab_id, name):
    result, report = labs.json("check", lab_id, "--instance", name, timeout=STEP)
    return result.returncode, {o["id"]: o for o in report["objectives"]}


def _anchors_of(engine, key: str) -> dict[str, dict]:
    """service name -> the spec of the Swarm service holding its place."""
    return {s.attrs["Spec"]["Labels"]["io.labs.anchor"]: s.attrs["Spec"] for s in engine.services.list(filters={"label": [f"io.labs.instance={key}"]})}


def _check_placed_and_hardened(engine, labs, key: str, lab_id: str) -> None:
    """One anchor service per lab service on the instance's own overlay; the lab's containers in
    the anchors' namespaces, hardened and limited like local ones."""
    from orchestrator.engine.capacity import seat_memory
    from orchestrator.spec import load_lab
    from tests.conftest import REPO

    lab = load_lab(REPO / "labs" / lab_id)
    anchors = _anchors_of(engine, key)
    assert set(anchors) == set(lab.services)
    for service, spec in anchors.items():
        task = spec["TaskTemplate"]
        assert spec["Mode"] == {"Replicated": {"Replicas": 1}}
        assert task["RestartPolicy"]["Condition"] == "none"
        assert spec["EndpointSpec"]["Mode"] == "dnsrr"
        assert task["ContainerSpec"]["CapabilityDrop"] == ["ALL"]
        # The main anchor reserves the whole seat (Swarm places the seat where all of it fits); the others follow it and reserve nothing.
        reserved = (task["Resources"].get("Reservations") or {}).get("MemoryBytes", 0)
        assert reserved == (seat_memory(lab) if service == lab.main_service else 0), (service, reserved)
        assert [p["PublishMode"] for p in spec["EndpointSpec"].get("Ports") or []] == ["host"] * len(lab.services[service].ports)
        networks = [engine.networks.get(n["Target"]) for n in task["Networks"]]
        assert [n.attrs["Driver"] for n in networks] == ["overlay"] and networks[0].attrs["Attachable"]
        assert networks[0].attrs["Internal"] == (not lab.egress and not any(s.ports for s in lab.services.values()))
        containers = engine.containers.list(filters={"label": [f"io.labs.instance={key}", f"io.labs.service={service}"]})
        assert len(containers) == 1 and containers[0].status == "running"
        # Named by image id, so no node asks a registry for it (Swarm pulls a tag before each task).
        assert task["ContainerSpec"]["Image"] == containers[0].attrs["Image"] and task["ContainerSpec"]["Image"].startswith("sha256:")
        host = containers[0].attrs["HostConfig"]
        assert host["NetworkMode"].startswith("container:")
        assert host["CapDrop"] == ["ALL"] and "no-new-privileges" in host["SecurityOpt"] and not host["Privileged"]
        assert host["Memory"] == host["MemorySwap"] == lab.services[service].limits.memory_bytes
        assert host["PidsLimit"] == lab.services[service].limits.pids
    status, report = labs.json("status", timeout=STEP)
    mine = [i for i in report["instances"] if i["key"] == key]
    assert mine and mine[0]["state"] == "running", report
    assert set(mine[0]["services"]) == set(lab.services)


def _full_cycle(swarm, labs, lab_id: str, name: str):
    """start → check fails → solve → check passes → reset → check fails → stop → nothing labelled left."""
    key = f"{lab_id}.{name}"
    started = labs("start", lab_id, "--instance", name, timeout=STEP)
    assert started.returncode == 0, started.stdout + started.stderr
    _check_placed_and_hardened(swarm, labs, key, lab_id)

    code, verdicts = _verdicts(labs, lab_id, name)
    assert code == 1, verdicts
    assert not all(o["passed"] for o in verdicts.values())

    solved = labs("solve", lab_id, "--instance", name, timeout=STEP)
    assert solved.returncode == 0, solved.stdout + solved.stderr
    code, verdicts = _verdicts(labs, lab_id, name)  # the restart objectives included
    assert code == 0, {i: o["message"] for i, o in verdicts.items() if not o["passed"]}

    reset = labs("reset", lab_id, "--instance", name, timeout=STEP)
    assert reset.returncode == 0, reset.stdout + reset.stderr
    code, verdicts = _verdicts(labs, lab_id, name)
    assert code == 1 and not all(o["passed"] for o in verdicts.values())

    stopped = labs("stop", lab_id, "--instance", name, timeout=STEP)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert _everything(swarm, key) == []


def test_nginx_misconfig_on_swarm(swarm, swarm_labs, swarm_instance):
    name, started = swarm_instance
    started.append("nginx-misconfig")
    _full_cycle(swarm, swarm_labs, "nginx-misconfig", name)


def test_multi_service_lab_on_swarm(swarm, swarm_labs, swarm_instance):
    name, started = swarm_instance
    started.append("lb-backend-down")
    _full_cycle(swarm, swarm_labs, "lb-backend-down", name)


def test_two_simultaneous_starts_make_one_instance(swarm, swarm_instance, tmp_path):
    """Two commands with separate state folders (two machines, as far as locks go) start the
    same instance at once: the Swarm config claim lets exactly one create it."""
    name, started = swarm_instance
    started.append("nginx-misconfig")
    key = f"nginx-misconfig.{name}"
    runners = [Labs(tmp_path / f"state{n}", {"LABS_ENGINE": "swarm"}) for n in range(2)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda labs: labs("start", "nginx-misconfig", "--instance", name, timeout=STEP), runners))
    codes = sorted(r.returncode for r in results)
    assert 0 in codes, [r.stdout + r.stderr for r in results]
    assert set(codes) <= {0, 6}, [r.stdout + r.stderr for r in results]  # the loser: a conflict (6), or it found it running
    services = swarm.services.list(filters={"label": [f"io.labs.instance={key}"]})
    assert sorted(s.name for s in services) == sorted(f"labs-nginx-misconfig-{name}-{svc}" for svc in ("proxy", "app"))
    assert len(swarm.configs.list(filters={"label": [f"io.labs.instance={key}", "io.labs.marker=claim"]})) == 1
    status, report = runners[0].json("status", timeout=STEP)
    keys = [i["key"] for i in report["instances"]]
    assert keys.count(key) == 1
    stopped = runners[0]("stop", "nginx-misconfig", "--instance", name, timeout=STEP)
    assert stopped.returncode == 0
    assert _everything(swarm, key) == []


def test_engine_option(swarm_labs):
    """`--engine` names a known engine or is a usage error."""
    bad = swarm_labs("--engine", "kubernetes", "status", timeout=120)
    assert bad.returncode == 2 and "--engine" in bad.stderr
    ok = swarm_labs("--engine", "swarm", "status", "--json", timeout=120)
    assert ok.returncode == 0, ok.stderr


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))


def test_classroom_admission_counts_what_the_cluster_has_not_reserved(swarm, swarm_labs, swarm_instance, monkeypatch):
    """`labs serve --classroom` on a swarm admits seats from the nodes' unreserved memory: a
    running seat's reservation is counted, and more seats than fit are refused with the count."""
    from orchestrator.catalog import Catalog
    from orchestrator.engine.cluster import cluster_status, seat_memory
    from orchestrator.engine.swarm_engine import SwarmEngine
    from orchestrator.errors import Conflict
    from orchestrator.web.server import admit

    name, started_labs = swarm_instance
    monkeypatch.setenv("LABS_ENGINE", "swarm")
    lab = Catalog.from_env().get("nginx-misconfig")
    before = cluster_status(SwarmEngine().client, [lab])
    fits, where = SwarmEngine().seats_that_fit(lab, 0.9)
    assert fits == before.labs[0].seats > 0 and "schedulable node(s)" in where
    started_labs.append("nginx-misconfig")
    started = swarm_labs("start", "nginx-misconfig", "--instance", name, timeout=STEP)
    assert started.returncode == 0, started.stdout + started.stderr
    after, _ = SwarmEngine().seats_that_fit(lab, 0.9)
    node = next(n for n in cluster_status(SwarmEngine().client, [lab]).nodes if n.this_node)
    assert node.reserved_memory_bytes >= seat_memory(lab) and after < fits
    admit(lab, after)
    with pytest.raises(Conflict, match=r"not enough memory for \d+ instance\(s\) of nginx-misconfig.*schedulable node") as refused:
        admit(lab, after + 1)
    assert f"at most {after} fit now" in refused.value.fix
