"""A real two-node Swarm cluster on one machine (tests/nested_engine.py): the host engine as
manager, a nested engine as TLS worker. `labs cluster status` sees both nodes and their
seats, node_engine reaches the worker over TLS only with the cluster CA, and a worker that
disappears is reported as lost within a bounded time instead of hanging anyone."""

from __future__ import annotations

import os
import threading
import time

import pytest

from tests.conftest import Labs
from tests.nested_engine import NestedEngine, nested_cluster

pytestmark = [pytest.mark.docker, pytest.mark.cluster]

from orchestrator.engine.cluster import (  # noqa: E402
    ENGINE_LABEL,
    cluster_status,
    ensure_ca,
    forget_node_engines,
    join_cluster,
    node_engine,
    seat_memory,
    tls_client,
)
from orchestrator.errors import EngineUnavailable  # noqa: E402

SERVICE_IMAGE = "debian:bookworm"  # loaded into the worker for a labs-labelled service
RESERVED = 96 * 1024**2
OTHER_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"  # the system's public CAs, not the cluster's
DEADLINE = 30  # seconds a live engine has to answer: generous, the machine is shared and busy


def bounded(seconds: float, call):
    """``call()``'s result, or a test failure when it has not returned within ``seconds`` (a hang)."""
    outcome = {}

    def run():
        try:
            outcome["value"] = call()
        except BaseException as err:  # noqa: BLE001 - handed back to the test
            outcome["error"] = err

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"still waiting after {seconds:g} s: a lost node must not hang labs")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.fixture(scope="module")
def cluster_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("labs-cluster")
    previous = os.environ.get("LABS_CLUSTER_DIR")
    os.environ["LABS_CLUSTER_DIR"] = str(folder)
    ensure_ca(folder)
    try:
        yield folder
    finally:
        forget_node_engines()
        if previous is None:
            os.environ.pop("LABS_CLUSTER_DIR", None)
        else:
            os.environ["LABS_CLUSTER_DIR"] = previous


@pytest.fixture(scope="module")
def cluster(engine, cluster_folder):
    """(manager, worker): two nested engines in their own swarm, the worker labelled with its
    TLS endpoint and holding SERVICE_IMAGE; all removed at the end, whatever happened."""
    with nested_cluster(engine, cluster_folder) as (manager, worker):
        worker.load_images([SERVICE_IMAGE])
        print(f"nested engine timings (s): manager {manager.timings}, worker {worker.timings}")
        yield manager, worker


@pytest.fixture(scope="module")
def manager(cluster):
    return cluster[0].client


@pytest.fixture(scope="module")
def worker(cluster):
    return cluster[1]


@pytest.fixture
def labs_cli(state_dir, cluster):
    """The labs CLI talking to the cluster's manager over TLS."""
    cli = Labs(state_dir, env={**cluster[0].cli_env(), "LABS_ENGINE_DEADLINE": str(DEADLINE)})
    # A CA bundle in the environment that does not vouch for the nodes: labs must trust the
    # cluster's CA (the DOCKER_CERT_PATH one) all the same, as a user's shell often sets these.
    cli.env.update(REQUESTS_CA_BUNDLE=OTHER_CA_BUNDLE, CURL_CA_BUNDLE=OTHER_CA_BUNDLE)
    return cli


def _pinned_service(manager, worker, name: str):
    """A labs-labelled service on the worker reserving RESERVED bytes (as a lab seat would)."""
    from docker.types import Resources

    return manager.services.create(
        SERVICE_IMAGE,
        command=["sleep", "600"],
        name=name,
        labels={"io.labs.managed": "true", "io.labs.test": "cluster"},
        constraints=[f"node.id=={worker.node_id}"],
        resources=Resources(mem_reservation=RESERVED, mem_limit=RESERVED),
    )


def test_status_shows_both_nodes_reachable_and_the_seats_that_fit(manager, worker, labs_cli):
    from orchestrator.catalog import Catalog

    lab = Catalog.from_env().get("nginx-misconfig")
    result, status = labs_cli.json("cluster", "status", timeout=120)
    assert result.returncode == 0, result.stderr
    assert status["schema"] == "labs.cluster-status/1" and status["swarm"] == "active" and status["manager"]
    nodes = {n["id"]: n for n in status["nodes"]}
    here = nodes[status["node_id"]]
    there = nodes[worker.node_id]
    assert (here["role"], here["this_node"], here["reachable"]) == ("manager", True, True)
    assert (there["role"], there["state"], there["reachable"], there["endpoint"]) == ("worker", "ready", True, worker.endpoint), there
    assert there["memory_bytes"] > 0 and there["cpus"] > 0
    seats = {s["lab"]: s for s in status["labs"]}["nginx-misconfig"]
    assert seats["memory_bytes"] == seat_memory(lab)
    assert seats["per_node"][worker.node_id] == there["free_memory_bytes"] // seat_memory(lab) > 0
    assert seats["seats"] == sum(seats["per_node"].values())

    # What a worker sees: no cluster to manage, said plainly.
    seen = cluster_status(worker.client)
    assert (seen.swarm, seen.manager, seen.nodes) == ("active", False, []) and "worker" in seen.detail

    # A labs task placed on the worker reserves memory there: fewer seats fit on it now.
    service = _pinned_service(manager, worker, f"labs-test-cluster-{worker.name[-8:]}")
    try:
        def placed():  # Swarm assigns the task to the node a moment after the service exists
            end = time.monotonic() + 60
            while True:
                status = cluster_status(manager, [lab], deadline=DEADLINE)
                node = next(n for n in status.nodes if n.id == worker.node_id)
                if node.labs_tasks or time.monotonic() > end:
                    return status, node
                time.sleep(0.5)

        after, node = bounded(DEADLINE * 4, placed)
        assert (node.labs_tasks, node.reserved_memory_bytes) == (1, RESERVED)
        assert after.labs[0].per_node[worker.node_id] == (node.memory_bytes - RESERVED) // seat_memory(lab)
    finally:
        service.remove()


def test_init_keeps_the_ca_and_issues_a_node_certificate(cluster, labs_cli, cluster_folder):
    from cryptography import x509

    result, init = labs_cli.json("cluster", "init", "--node", "node3.example.org", timeout=120)
    assert result.returncode == 0, result.stderr
    assert init["schema"] == "labs.cluster-init/1" and init["ca_created"] is False and init["swarm"] == "active"
    assert init["manager_address"] == f"{cluster[0].address}:2377" and init["worker_token"].startswith("SWMTKN-")
    folder = cluster_folder / "nodes" / "node3.example.org"
    assert init["node_certs"] == {"node3.example.org": str(folder)}
    cert = x509.load_pem_x509_certificate((folder / "server-cert.pem").read_bytes())
    ca = x509.load_pem_x509_certificate((cluster_folder / "ca.pem").read_bytes())
    cert.verify_directly_issued_by(ca)
    assert cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == ["node3.example.org"]
    assert oct((folder / "server-key.pem").stat().st_mode & 0o777) == "0o600"
    assert any(init["worker_token"] in step for step in init["steps"])


def test_node_engine_reaches_the_worker_over_tls_and_refuses_without_the_ca(manager, worker, cluster_folder, tmp_path, monkeypatch):
    engine = manager
    own = engine.info()["Swarm"]["NodeID"]
    assert node_engine(engine, own, deadline=DEADLINE) is engine
    client = node_engine(engine, worker.node_id, deadline=DEADLINE)
    assert client.info()["Swarm"]["NodeID"] == worker.node_id
    assert client.info()["Name"] == worker.container.attrs["Config"]["Hostname"]  # the nested engine itself, not the host's
    assert node_engine(engine, worker.node_id, deadline=DEADLINE) is client  # cached per node
    timeouts = (engine.api.timeout, client.api.timeout)
    cluster_status(engine, deadline=DEADLINE)  # asks every node in parallel, with deadlines of its own
    assert (engine.api.timeout, client.api.timeout) == timeouts  # shared clients keep their timeouts

    # Another CA: the worker's certificate is not vouched for, and the worker refuses our certificate.
    forget_node_engines()
    stranger = tmp_path / "other-ca"
    ensure_ca(stranger)
    monkeypatch.setenv("LABS_CLUSTER_DIR", str(stranger))
    with pytest.raises(EngineUnavailable, match="TLS"):
        node_engine(engine, worker.node_id, deadline=DEADLINE)
    # No cluster files at all: said plainly.
    monkeypatch.setenv("LABS_CLUSTER_DIR", str(tmp_path / "empty"))
    with pytest.raises(EngineUnavailable, match="cluster TLS files .* missing") as missing:
        node_engine(engine, worker.node_id, deadline=DEADLINE)
    assert missing.value.code == 4
    monkeypatch.setenv("LABS_CLUSTER_DIR", str(cluster_folder))

    # Trusting the CA is not enough: the engine wants labs' client certificate.
    import docker
    from docker.tls import TLSConfig

    anonymous = docker.DockerClient(base_url=f"https://{worker.address}:2376", tls=TLSConfig(ca_cert=str(cluster_folder / "ca.pem"), verify=True), version="1.41", timeout=5)
    anonymous.api.trust_env = False
    with pytest.raises(Exception) as refused:
        anonymous.ping()
    assert "ssl" in f"{type(refused.value).__name__} {refused.value}".lower()

    # A node that advertises no endpoint is named, with what to do.
    node = engine.api.inspect_node(worker.node_id)
    spec = dict(node["Spec"])
    spec["Labels"] = {k: v for k, v in (spec.get("Labels") or {}).items() if k != ENGINE_LABEL}
    engine.api.update_node(worker.node_id, node["Version"]["Index"], spec)
    forget_node_engines()
    try:
        with pytest.raises(EngineUnavailable, match=f"{worker.name}.*advertises no engine endpoint") as unlabelled:
            node_engine(engine, worker.node_id, deadline=DEADLINE)
        assert "labs cluster join" in unlabelled.value.fix
    finally:
        join_cluster(engine, worker.node_id, worker.endpoint, deadline=DEADLINE)
    assert node_engine(engine, worker.node_id, deadline=DEADLINE).ping()

    # join refuses an endpoint that is not that node's own engine.
    with pytest.raises(Exception, match="is not swarm node"):
        join_cluster(engine, own, worker.endpoint, deadline=DEADLINE)


def test_a_worker_that_disappears_is_reported_and_nobody_hangs(engine, cluster, cluster_folder, labs_cli):
    with NestedEngine(engine, cluster_folder) as lost:
        lost.join(cluster[0])
        engine = cluster[0].client  # the manager, from here on
        assert node_engine(engine, lost.node_id, deadline=DEADLINE).ping()
        lost.kill()

        # node_engine fails at once with the node's name, not after a long wait.
        with pytest.raises(EngineUnavailable) as err:
            bounded(60, lambda: node_engine(engine, lost.node_id, deadline=3))
        assert lost.name in err.value.message and err.value.code == 4

        # `labs cluster status` answers, reporting the node unreachable.
        result, status = bounded(DEADLINE * 6, lambda: labs_cli.json("cluster", "status", timeout=DEADLINE * 5))
        assert result.returncode == 0, result.stderr
        node = next(n for n in status["nodes"] if n["id"] == lost.node_id)
        assert not node["reachable"] and lost.name in node["problem"]
        assert all(lost.node_id not in s["per_node"] for s in status["labs"])

        # The swarm itself sees it down within its heartbeat period (bounded wait).
        def seen_down():
            end = time.monotonic() + 90
            while time.monotonic() < end:
                if engine.api.inspect_node(lost.node_id)["Status"]["State"] == "down":
                    return True
                time.sleep(1)
            return False

        assert bounded(100, seen_down), "the manager never marked the killed worker down"
        with pytest.raises(EngineUnavailable, match=f"{lost.name}.* is down"):
            bounded(DEADLINE * 2, lambda: node_engine(engine, lost.node_id, deadline=DEADLINE))
        doctor, report = labs_cli.json("doctor", timeout=120)
        swarm = next(f for f in report["findings"] if f["check"] == "swarm")
        assert not swarm["ok"] and lost.name in swarm["detail"]


@pytest.mark.parametrize("endpoint", ["foo", "tcp://:2376", "tcp://node2:abc", "ssh://node2"])
def test_an_endpoint_that_is_not_tcp_host_port_is_a_usage_error(labs, endpoint):
    result = labs("cluster", "join", "node2", "--endpoint", endpoint, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "is not tcp://HOST:PORT" in result.stderr and "Traceback" not in result.stderr
