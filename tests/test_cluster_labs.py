"""A lab on a real two-node Swarm cluster on one machine (tests/nested_engine.py: both nodes
nested engines, the manager reached over TLS): nginx-misconfig pinned to the worker is started,
checked (trusted probes included: they must start on the worker), solved, opened in a terminal
and stopped, all through the worker's engine, with nothing left on any node; and a worker that
disappears mid-class is reported as lost, never hung on (that test kills the module's worker, so
it comes last).

The lab's images (its services' and the probe image) are copied from the host engine into both
nested engines (saved once, loaded in parallel) rather than built in them.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest

from tests.conftest import Labs
from tests.nested_engine import load_images, nested_cluster
from tests.test_cluster import cluster_folder  # noqa: F401 - a fixture used here

pytestmark = [pytest.mark.docker, pytest.mark.cluster, pytest.mark.swarm]

LAB = "nginx-misconfig"
STEP = 600  # seconds any one labs command may take (the machine is shared and busy)
DEADLINE = 30  # seconds a live engine has to answer
LOST_BOUND = 240  # seconds a command may take when a node is lost: several engine deadlines, never a hang


@pytest.fixture(scope="module")
def lab_images(engine):
    """The tags of every image the lab needs (its services' and the probe's), present on the host engine."""
    from orchestrator.catalog import Catalog
    from orchestrator.engine.images import ensure_images
    from orchestrator.lifecycle import check_images

    lab = Catalog.from_env().get(LAB)
    return list(ensure_images(engine, check_images(lab), lab_folder=lab.folder).values())


@pytest.fixture(scope="module")
def cluster(engine, cluster_folder, lab_images):  # noqa: F811 - the imported fixture
    """(manager, worker): two nested engines in their own swarm, both holding the lab's images;
    both removed at the end (with everything in them), whatever happened."""
    with nested_cluster(engine, cluster_folder) as (manager, worker):
        load_images(engine, [manager, worker], lab_images)
        print(f"nested engine timings (s): manager {manager.timings}, worker {worker.timings}")
        yield manager, worker


def swarm_cli(state_dir, manager, worker) -> Labs:
    """The labs CLI on the cluster's manager over TLS, with the Swarm engine, pinned to ``worker``."""
    cli = Labs(state_dir, env={**manager.cli_env(), "LABS_ENGINE": "swarm", "LABS_SWARM_NODE": worker.name, "LABS_ENGINE_DEADLINE": str(DEADLINE)})
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # they would replace the cluster CA in requests
        cli.env.pop(name, None)
    return cli


@pytest.fixture
def pinned(tmp_path, cluster):
    """(labs CLI, instance name): whatever the test started is stopped afterwards (bounded)."""
    manager, worker = cluster
    cli = swarm_cli(tmp_path / "state", manager, worker)
    name = f"c{uuid.uuid4().hex[:8]}"
    yield cli, name
    worker.container.reload()
    if worker.container.status != "running":
        return  # killed by the test: the nested engines go at the end, with all they hold
    try:
        cli("stop", LAB, "--instance", name, timeout=STEP)
    except Exception as err:  # noqa: BLE001 - the nested engines go anyway, with all they hold
        print(f"stopping {LAB} {name} after the test: {err}")


def labelled(client, key: str) -> list[str]:
    """Every service, network, config, container and volume labelled with instance ``key`` on one engine."""
    selector = {"label": [f"io.labs.instance={key}"]}
    found = []
    if (client.info().get("Swarm") or {}).get("ControlAvailable"):
        found += [f"service {s.name}" for s in client.services.list(filters=selector)]
        found += [f"config {c.name}" for c in client.configs.list(filters=selector)]
    found += [f"network {n.name}" for n in client.networks.list(filters=selector)]
    found += [f"container {c.name}" for c in client.containers.list(all=True, filters=selector, ignore_removed=True)]
    found += [f"volume {v.name}" for v in client.volumes.list(filters=selector)]
    return found


def probes_created(client, key: str, since: float) -> int:
    """How many check probes of instance ``key`` the engine created since ``since`` (its event log)."""
    events = client.events(
        since=int(since),
        until=int(time.time()) + 1,
        decode=True,
        filters={"type": "container", "event": "create", "label": [f"io.labs.instance={key}", "io.labs.probe=true"]},
    )
    return sum(1 for _ in events)


def run(cli: Labs, *args: str):
    result = cli(*args, timeout=STEP)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def verdicts(cli: Labs, name: str):
    result, report = cli.json("check", LAB, "--instance", name, timeout=STEP)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, {o["id"]: o for o in report["objectives"]}


def test_a_lab_pinned_to_the_worker_runs_checks_and_stops_through_its_engine(cluster, pinned):
    from orchestrator.catalog import Catalog

    manager, worker = cluster
    cli, name = pinned
    worker.container.reload()
    assert worker.container.status == "running", "the worker was killed by an earlier test (the lost-worker test must run last)"
    key = f"{LAB}.{name}"
    services = set(Catalog.from_env().get(LAB).services)
    timings = {}

    began = time.monotonic()
    started = run(cli, "start", LAB, "--instance", name)
    timings["start"] = time.monotonic() - began
    assert started.returncode == 0, started.stdout + started.stderr

    # Swarm placed every anchor on the worker, and the lab containers run there, in their namespaces.
    anchors = manager.client.services.list(filters={"label": [f"io.labs.instance={key}"]})
    assert {s.attrs["Spec"]["Labels"]["io.labs.anchor"] for s in anchors} == services
    for anchor in anchors:
        assert {t["NodeID"] for t in anchor.tasks(filters={"desired-state": "running"})} == {worker.node_id}, anchor.name
    on_worker = worker.client.containers.list(filters={"label": [f"io.labs.instance={key}"]})
    lab_containers = {c.labels["io.labs.service"]: c for c in on_worker if "io.labs.service" in c.labels}
    assert set(lab_containers) == services
    assert all(c.status == "running" and c.attrs["HostConfig"]["NetworkMode"].startswith("container:") for c in lab_containers.values())
    assert {c.labels["io.labs.anchor"] for c in on_worker if "io.labs.anchor" in c.labels} == services
    assert manager.client.containers.list(all=True, filters={"label": [f"io.labs.instance={key}"]}) == []

    status, report = cli.json("status", timeout=STEP)
    assert status.returncode == 0, status.stderr
    mine = [i for i in report["instances"] if i["key"] == key]
    assert mine and mine[0]["state"] == "running" and set(mine[0]["services"]) == services, report

    # Broken as started: the check fails, its probes started on the worker, none on the manager.
    since = time.time() - 1
    began = time.monotonic()
    code, found = verdicts(cli, name)
    timings["check (broken)"] = time.monotonic() - began
    assert code == 1 and not all(o["passed"] for o in found.values()), found

    began = time.monotonic()
    solved = run(cli, "solve", LAB, "--instance", name)
    timings["solve"] = time.monotonic() - began
    assert solved.returncode == 0, solved.stdout + solved.stderr

    began = time.monotonic()
    code, found = verdicts(cli, name)  # trusted probes (fresh containers from pristine images), integrity, restarts
    timings["check (solved)"] = time.monotonic() - began
    assert code == 0, {i: o["message"] for i, o in found.items() if not o["passed"]}
    assert probes_created(worker.client, key, since) > 0
    assert probes_created(manager.client, key, since) == 0
    assert manager.client.containers.list(all=True, filters={"label": [f"io.labs.instance={key}"]}) == []

    # The terminal path: exec through the worker's engine.
    began = time.monotonic()
    shell = run(cli, "shell", LAB, "proxy", "--instance", name, "--", "sh", "-c", "echo hi")
    timings["shell"] = time.monotonic() - began
    assert shell.returncode == 0, shell.stdout + shell.stderr
    assert shell.stdout.strip().splitlines()[-1:] == ["hi"], shell.stdout

    began = time.monotonic()
    stopped = run(cli, "stop", LAB, "--instance", name)
    timings["stop"] = time.monotonic() - began
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert labelled(manager.client, key) == []
    assert labelled(worker.client, key) == []
    print(f"{LAB} on the worker, timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))


def test_a_worker_lost_mid_class_is_reported_not_hung_on(cluster, pinned):
    """Last in this file: the module's worker is killed here (a crashed VM)."""
    manager, worker = cluster
    cli, name = pinned
    key = f"{LAB}.{name}"
    started = run(cli, "start", LAB, "--instance", name)
    assert started.returncode == 0, started.stdout + started.stderr
    worker.kill()

    def answered(*args: str):
        try:
            result = cli(*args, timeout=LOST_BOUND)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`labs {' '.join(args)}` still running {LOST_BOUND} s after the worker was killed: a lost node must not hang labs")
        assert "Traceback" not in result.stderr, result.stderr
        return result

    # status answers, the instance degraded: its services' node named as unreachable.
    result = answered("status", "--json")
    assert result.returncode == 0, result.stderr
    mine = [i for i in json.loads(result.stdout)["instances"] if i["key"] == key]
    assert mine and mine[0]["state"] == "degraded", mine
    for service, state in mine[0]["services"].items():
        assert state.startswith("unreachable") and worker.name in state, (service, state)

    # check (and a terminal) refuse at once with one clear message naming the node: exit 4.
    for args in (("check", LAB, "--instance", name), ("shell", LAB, "proxy", "--instance", name, "--", "true")):
        result = answered(*args)
        assert result.returncode == 4, result.stdout + result.stderr
        assert "cannot be reached" in result.stderr and worker.name in result.stderr, result.stderr
