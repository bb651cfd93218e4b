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


def _services_of(engine, key: str) -> dict[str, dict]:
    return {s.attrs["Spec"]["Labels"]["io.labs.service"]: s.attrs["Spec"] for s in engine.services.list(filters={"label": [f"io.labs.instance={key}"]})}


def _full_cycle(swarm, labs, lab_id: str, name: str, restart_objective: str):
    """start → check fails → solve → check passes (all but the restart objective: see
    docs/swarm.md) → reset → check fails → stop → nothing labelled left."""
    key = f"{lab_id}.{name}"
    started = labs("start", lab_id, "--instance", name, timeout=STEP)
    assert started.returncode == 0, started.stdout + started.stderr

    # Swarm services, one per lab service, on an overlay of the instance's own, hardened.
    specs = _services_of(swarm, key)
    status, report = labs.json("status", timeout=STEP)
    assert status.returncode == 0
    mine = [i for i in report["instances"] if i["key"] == key] if isinstance(report, dict) else [i for i in report if i["key"] == key]
    assert mine and mine[0]["state"] == "running", report
    assert set(specs) == set(mine[0]["services"])
    for service, spec in specs.items():
        task = spec["TaskTemplate"]
        assert spec["Mode"] == {"Replicated": {"Replicas": 1}}
        assert task["RestartPolicy"]["Condition"] == "none"
        assert spec["EndpointSpec"]["Mode"] == "dnsrr"
        assert task["ContainerSpec"]["CapabilityDrop"] == ["ALL"]
        assert task["Resources"]["Limits"]["MemoryBytes"] == task["Resources"]["Reservations"]["MemoryBytes"] > 0
        assert task["Resources"]["Limits"]["Pids"] > 0
        for port in spec["EndpointSpec"].get("Ports") or []:
            assert port["PublishMode"] == "host"
        networks = [swarm.networks.get(n["Target"]) for n in task["Networks"]]
        assert [n.attrs["Driver"] for n in networks] == ["overlay"] and networks[0].attrs["Attachable"]
        # The task's container carries the same labels (the finders work on it).
        containers = swarm.containers.list(filters={"label": [f"io.labs.instance={key}", f"io.labs.service={service}"]})
        assert len(containers) == 1 and containers[0].status == "running"

    code, verdicts = _verdicts(labs, lab_id, name)
    assert code == 1, verdicts
    assert not all(o["passed"] for o in verdicts.values())

    solved = labs("solve", lab_id, "--instance", name, timeout=STEP)
    assert solved.returncode == 0, solved.stdout + solved.stderr
    code, verdicts = _verdicts(labs, lab_id, name)
    failing = {i: o["message"] for i, o in verdicts.items() if not o["passed"]}
    # Known difference (docs/swarm.md): after a restart through the node's engine, Swarm no
    # longer serves the restarted tasks' names, so only the restart objective may fail.
    assert set(failing) <= {restart_objective}, failing

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
    _full_cycle(swarm, swarm_labs, "nginx-misconfig", name, "test_survives_restart")


def test_multi_service_lab_on_swarm(swarm, swarm_labs, swarm_instance):
    name, started = swarm_instance
    started.append("lb-backend-down")
    _full_cycle(swarm, swarm_labs, "lb-backend-down", name, "test_survives_restart")


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
    keys = [i["key"] for i in (report["instances"] if isinstance(report, dict) else report)]
    assert keys.count(key) == 1
    stopped = runners[0]("stop", "nginx-misconfig", "--instance", name, timeout=STEP)
    assert stopped.returncode == 0
    assert _everything(swarm, key) == []


def test_engine_option_and_not_a_manager(swarm_labs):
    """`--engine` names a known engine or is a usage error."""
    bad = swarm_labs("--engine", "kubernetes", "status", timeout=120)
    assert bad.returncode == 2 and "--engine" in bad.stderr
    ok = swarm_labs("--engine", "swarm", "status", "--json", timeout=120)
    assert ok.returncode == 0, ok.stderr


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))
