"""A Swarm cluster of engines: reaching each node's own engine, membership, capacity, TLS.

Swarm places lab services on nodes, but the Engine API has no exec, archive or log
access to a task on another node (moby#27552): labs reaches a task through the engine
of the node that runs it. Every node other than the manager labs runs beside advertises
that engine in its node label ``io.labs.engine`` (``tcp://HOST:2376``), served with TLS
and client certificates from the labs cluster CA.

The cluster CA and certificates live in ``cluster_dir()`` (``LABS_CLUSTER_DIR``, default
``<labs state folder>/cluster``):

    ca.pem, ca-key.pem        the cluster CA (the key never leaves the manager)
    cert.pem, key.pem         labs' client certificate: what labs presents to node engines
    nodes/<HOST>/             one node engine's files, copied to that node (/etc/docker/labs-tls):
        ca.pem, server-cert.pem, server-key.pem

Capacity is counted the way Swarm's scheduler counts it: a node's CPUs and memory less
the reservations of the labs tasks it runs. A lab's seat needs the memory limits of its
services (memory is not compressible, CPU limits are caps on a shared resource, as in
``capacity``); a seat fits on a node when all of its services fit there.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from orchestrator.engine import labels
from orchestrator.engine.client import _cause, answer_deadline
from orchestrator.errors import EngineUnavailable, NotFound, UsageError

if TYPE_CHECKING:
    import docker

    from orchestrator.spec import Lab

ENGINE_LABEL = f"{labels.PREFIX}.engine"  # node label: the node's TLS engine endpoint
ENGINE_PORT = 2376
SWARM_PORTS = "2377/tcp (managers), 7946/tcp+udp (all nodes), 4789/udp (overlay traffic)"
CERT_DAYS = 825
CA_FILES = ("ca.pem", "cert.pem", "key.pem")


def cluster_dir() -> Path:
    """Where the cluster CA and certificates live (``LABS_CLUSTER_DIR``, else ``<state>/cluster``)."""
    override = os.environ.get("LABS_CLUSTER_DIR")
    if override:
        return Path(override)
    from orchestrator.paths import state_dir

    return state_dir() / "cluster"


# -- reaching a node's engine ------------------------------------------------------------

_CLIENTS: dict[tuple[str, str], "docker.DockerClient"] = {}
_CLIENTS_LOCK = threading.Lock()


def tls_client(endpoint: str, *, folder: Path | None = None, timeout: float = 120) -> docker.DockerClient:
    """An SDK client for a node engine ``endpoint`` (tcp://HOST:PORT) that verifies the engine's
    certificate against the cluster CA and presents labs' client certificate. Not yet contacted."""
    import docker
    from docker.tls import TLSConfig

    folder = folder or cluster_dir()
    missing = [name for name in CA_FILES if not (folder / name).is_file()]
    if missing:
        raise EngineUnavailable(
            f"cannot reach the node engine at {endpoint}: the cluster TLS files {', '.join(missing)} are missing in {folder}",
            "run `labs cluster init` on the manager (or copy its cluster folder here, or set LABS_CLUSTER_DIR)",
        )
    parts = urlsplit(endpoint)
    if parts.scheme != "tcp" or not parts.hostname:
        raise UsageError(f"engine endpoint {endpoint!r} is not tcp://HOST:PORT", f"for example tcp://10.0.0.12:{ENGINE_PORT}")
    tls = TLSConfig(client_cert=(str(folder / "cert.pem"), str(folder / "key.pem")), ca_cert=str(folder / "ca.pem"), verify=True)
    return docker.DockerClient(base_url=f"https://{parts.hostname}:{parts.port or ENGINE_PORT}", tls=tls, timeout=timeout)


def _ping(client: docker.DockerClient, what: str, deadline: float) -> None:
    """The engine answers a ping within ``deadline`` seconds, or ``EngineUnavailable`` naming it."""
    previous = client.api.timeout
    client.api.timeout = deadline
    try:
        client.ping()
    except Exception as err:  # noqa: BLE001 - connection, TLS and timeout errors of every kind
        cause = _cause(err)
        if "CERTIFICATE_VERIFY_FAILED" in str(err) or "certificate" in cause.lower():
            raise EngineUnavailable(f"{what} refused the TLS handshake: {cause}", "the node's server certificate must come from this cluster's CA (`labs cluster init --node HOST`)") from None
        if cause == "timed out" or "Timeout" in type(err).__name__:
            raise EngineUnavailable(f"{what} did not answer within {deadline:g} s", "is the node up and port 2376 open to the manager? `labs cluster status` shows every node") from None
        raise EngineUnavailable(f"{what} is not reachable: {cause}", "is the node up and its engine listening with TLS on that endpoint? `labs cluster status` shows every node") from None
    finally:
        client.api.timeout = previous


def _node_name(node: dict) -> str:
    hostname = ((node.get("Description") or {}).get("Hostname")) or "?"
    return f"{hostname} ({node.get('ID', '?')[:12]})"


def node_engine(manager_client: docker.DockerClient, node_id: str, *, deadline: float | None = None, timeout: float = 120) -> docker.DockerClient:
    """A client for the engine of swarm node ``node_id``: the manager's own client for the
    manager's own node, else a TLS client for the endpoint the node advertises in its label
    ``io.labs.engine`` (cached per node). The node must be ready and its engine must answer a
    ping within ``deadline`` seconds (default ``answer_deadline()``); otherwise one
    ``EngineUnavailable`` (exit 4) names the node and what is wrong — never a hang."""
    from docker.errors import APIError
    from docker.errors import NotFound as DockerNotFound

    deadline = deadline or answer_deadline()
    previous = manager_client.api.timeout
    manager_client.api.timeout = deadline
    try:
        own = ((manager_client.info().get("Swarm") or {}).get("NodeID")) or ""
        if not own:
            raise EngineUnavailable(f"cannot reach swarm node {node_id}: this engine is not part of a swarm", "`labs cluster init` on the manager; `labs cluster status` says more")
        if node_id == own:
            return manager_client
        node = manager_client.api.inspect_node(node_id)
    except EngineUnavailable:
        raise
    except DockerNotFound:
        raise EngineUnavailable(f"swarm node {node_id} does not exist (left the cluster?)", "`labs cluster status` lists the nodes") from None
    except APIError as err:
        raise EngineUnavailable(f"the manager cannot look up swarm node {node_id}: {err.explanation or err}", "run labs on a swarm manager; `labs cluster status` says more") from None
    except Exception as err:  # noqa: BLE001 - the manager itself did not answer
        raise EngineUnavailable(f"the manager engine did not answer while looking up node {node_id}: {_cause(err)}", "`labs doctor` says what is wrong") from None
    finally:
        manager_client.api.timeout = previous
    name = _node_name(node)
    state = (node.get("Status") or {}).get("State", "unknown")
    if state != "ready":
        with _CLIENTS_LOCK:
            for key in [k for k in _CLIENTS if k[0] == node["ID"]]:
                _CLIENTS.pop(key).close()
        raise EngineUnavailable(f"swarm node {name} is {state}", "bring the node back (or `docker node rm` it); its lab seats are lost until then")
    endpoint = ((node.get("Spec") or {}).get("Labels") or {}).get(ENGINE_LABEL)
    if not endpoint:
        raise EngineUnavailable(
            f"swarm node {name} advertises no engine endpoint (node label {ENGINE_LABEL})",
            f"on the manager: `labs cluster join {node['ID'][:12]} --endpoint tcp://HOST:{ENGINE_PORT}`",
        )
    key = (node["ID"], endpoint)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
    if client is None:
        client = tls_client(endpoint, timeout=timeout)
    try:
        _ping(client, f"the engine of swarm node {name} at {endpoint}", deadline)
    except EngineUnavailable:
        with _CLIENTS_LOCK:
            if _CLIENTS.get(key) is client:
                del _CLIENTS[key]
        client.close()
        raise
    with _CLIENTS_LOCK:
        _CLIENTS.setdefault(key, client)
        return _CLIENTS[key]


def forget_node_engines() -> None:
    """Close and drop every cached node engine client."""
    with _CLIENTS_LOCK:
        for client in _CLIENTS.values():
            client.close()
        _CLIENTS.clear()
