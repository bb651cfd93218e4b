"""A lab on a real two-node Swarm cluster on one machine (tests/nested_engine.py: both nodes
nested engines, the manager reached over TLS): nginx-misconfig pinned to the worker is started,
checked (trusted probes included: they must start on the worker), solved, reset, opened in a
terminal and stopped, all through the worker's engine, with nothing left on any node; a
classroom of two seats served by `labs serve` is spread by Swarm over both nodes, and each seat's
check and browser terminal (a real WebSocket client) reach it through its node's engine; and a
worker that disappears mid-class is reported as lost, never hung on, and `labs stop` of its seat
removes what it reaches and says what is left (that test kills the module's worker, so it comes
last).

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
from tests.test_cluster import OTHER_CA_BUNDLE, cluster_folder  # noqa: F401 - a fixture used here

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


def swarm_cli(state_dir, manager, worker=None) -> Labs:
    """The labs CLI on the cluster's manager over TLS, with the Swarm engine, pinned to ``worker``
    (placed by Swarm without one)."""
    pin = {"LABS_SWARM_NODE": worker.name} if worker is not None else {}
    cli = Labs(state_dir, env={**manager.cli_env(), "LABS_ENGINE": "swarm", **pin, "LABS_ENGINE_DEADLINE": str(DEADLINE)})
    # A CA bundle in the environment that does not vouch for the nodes: labs must trust the
    # cluster's CA (the DOCKER_CERT_PATH one) all the same, as a user's shell often sets these.
    cli.env.update(REQUESTS_CA_BUNDLE=OTHER_CA_BUNDLE, CURL_CA_BUNDLE=OTHER_CA_BUNDLE)
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

    # Reset through the worker's engine: fresh lab containers there, and broken again.
    solved_ids = {c.id for c in lab_containers.values()}
    began = time.monotonic()
    reset = run(cli, "reset", LAB, "--instance", name)
    timings["reset"] = time.monotonic() - began
    assert reset.returncode == 0, reset.stdout + reset.stderr
    fresh = {c.labels["io.labs.service"]: c for c in worker.client.containers.list(filters={"label": [f"io.labs.instance={key}"]}) if "io.labs.service" in c.labels}
    assert set(fresh) == services and not solved_ids & {c.id for c in fresh.values()}
    assert manager.client.containers.list(all=True, filters={"label": [f"io.labs.instance={key}"]}) == []
    code, found = verdicts(cli, name)
    assert code == 1 and not all(o["passed"] for o in found.values()), found

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


def terminal_echo(server, seat: str, token: str, service: str = "proxy") -> str:
    """Open the browser terminal of ``service`` of ``seat`` over a real WebSocket, as the page
    does, type a command and return what came back once its output is there."""
    from websockets.sync.client import connect

    marker = uuid.uuid4().hex
    url = f"ws://127.0.0.1:{server.port}/ws/terminal/{LAB}/{seat}/{service}"
    with connect(url, origin=server.base, additional_headers={"Cookie": f"labs_seat={token}"}, open_timeout=DEADLINE, max_size=1 << 20) as ws:
        hello = json.loads(ws.recv(timeout=STEP))
        assert hello["type"] == "hello", hello
        ws.send(f"printf '%s-%s\\n' seen {marker}\n".encode())  # the echoed command line never holds "seen-<marker>"
        output = b""
        deadline = time.monotonic() + STEP
        while f"seen-{marker}".encode() not in output:
            assert time.monotonic() < deadline, output[-2000:]
            frame = ws.recv(timeout=max(1, deadline - time.monotonic()))
            if isinstance(frame, str):
                notice = json.loads(frame)
                assert notice["type"] not in ("exit", "error"), (notice, output[-2000:])
                continue
            output += frame
            ws.send(json.dumps({"type": "ack", "bytes": len(frame)}))
    return output.decode(errors="replace")


def test_a_classroom_spreads_its_seats_over_both_nodes_each_checked_and_opened_in_the_browser_terminal(cluster, tmp_path):
    """`labs serve --seats 2` on the two-node swarm, nothing pinned: Swarm puts each seat whole on
    a node, the two seats on different nodes; each seat's check (probes on its node) and browser
    terminal (a real WebSocket through the server, exec through the node's engine, over TLS for
    the worker) work; stopping both seats from the page leaves nothing on either node."""
    import httpx

    from orchestrator.catalog import Catalog
    from orchestrator.engine.capacity import seat_memory
    from tests.test_web_browser import Server, finished, seat_link

    manager, worker = cluster
    worker.container.reload()
    assert worker.container.status == "running", "the worker was killed by an earlier test (the lost-worker test must run last)"
    lab = Catalog.from_env().get(LAB)
    state = tmp_path / "state"
    state.mkdir()
    cli = swarm_cli(state, manager)
    engine_of = {manager.node_id: manager.client, worker.node_id: worker.client}
    seats = ["seat-1", "seat-2"]
    server = Server(state, "--seats", "2", "--lab", LAB, env=cli.env, listen_within=STEP)
    try:
        tokens = {f"seat-{n}": seat_link(server, n) for n in (1, 2)}
        browsers = {}
        for seat in seats:
            browsers[seat] = httpx.Client(base_url=server.base, follow_redirects=False, timeout=STEP)
            assert browsers[seat].get(f"/join/{tokens[seat]}").status_code == 303
        ops = {seat: browsers[seat].post(f"/api/labs/{LAB}/instances/{seat}/start").json() for seat in seats}  # both at once
        for seat in seats:
            op = finished(browsers[seat], ops[seat], server, STEP)
            assert op["state"] == "done", f"{seat}: {op.get('error')}\n{op.get('lines')}\n{server.output()[-3000:]}"

        # Each seat whole on one node (its main anchor reserves the seat, the others follow it), the two on different nodes.
        node_of = {}
        for seat in seats:
            key = f"{LAB}.{seat}"
            anchors = manager.client.services.list(filters={"label": [f"io.labs.instance={key}"]})
            placed = {t["NodeID"] for a in anchors for t in a.tasks(filters={"desired-state": "running"})}
            assert len(placed) == 1, (seat, placed)
            node_of[seat] = placed.pop()
            for anchor in anchors:
                reserved = (anchor.attrs["Spec"]["TaskTemplate"]["Resources"].get("Reservations") or {}).get("MemoryBytes", 0)
                main = anchor.attrs["Spec"]["Labels"]["io.labs.anchor"] == lab.main_service
                assert reserved == (seat_memory(lab) if main else 0), (anchor.name, reserved)
            here = engine_of[node_of[seat]].containers.list(filters={"label": [f"io.labs.instance={key}"]})
            assert {c.labels["io.labs.service"] for c in here if "io.labs.service" in c.labels} == set(lab.services)
            elsewhere = [e for n, e in engine_of.items() if n != node_of[seat]][0]
            assert elsewhere.containers.list(all=True, filters={"label": [f"io.labs.instance={key}"]}) == []
        assert set(node_of.values()) == {manager.node_id, worker.node_id}, node_of

        for seat in seats:
            key = f"{LAB}.{seat}"
            since = time.time() - 1
            checked = browsers[seat].post(f"/api/labs/{LAB}/instances/{seat}/check")
            assert checked.status_code == 200, checked.text
            objectives = checked.json()["objectives"]
            assert objectives and not all(o["passed"] for o in objectives), objectives  # broken as started
            assert probes_created(engine_of[node_of[seat]], key, since) > 0, seat
            assert terminal_echo(server, seat, tokens[seat])  # its terminal, through its node's engine

        ops = {seat: browsers[seat].post(f"/api/labs/{LAB}/instances/{seat}/stop").json() for seat in seats}
        for seat in seats:
            op = finished(browsers[seat], ops[seat], server, STEP)
            assert op["state"] == "done", f"{op.get('error')}\n{op.get('lines')}\n{server.output()[-3000:]}"
            assert labelled(manager.client, f"{LAB}.{seat}") == []
            assert labelled(worker.client, f"{LAB}.{seat}") == []
        assert "Traceback" not in server.output(), server.output()
    finally:
        server.stop()
        for seat in seats:
            try:
                cli("stop", LAB, "--instance", seat, timeout=STEP)
            except Exception as err:  # noqa: BLE001 - the nested engines go anyway, with all they hold
                print(f"stopping {LAB} {seat} after the test: {err}")


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

    # stop removes what it reaches (the Swarm services, on the manager), names what is left on the
    # lost node and says how to finish: exit 4, within the bound.
    result = answered("stop", LAB, "--instance", name)
    assert result.returncode == 4, result.stdout + result.stderr
    message = " ".join(result.stderr.split())
    assert worker.name in message and "the containers of" in message, message
    assert f"labs stop {LAB} --instance {name}" in message and "docker node rm" in message, message
    assert manager.client.services.list(filters={"label": [f"io.labs.instance={key}"]}) == []
    print(f"after stop with the worker lost: {labelled(manager.client, key)}")
