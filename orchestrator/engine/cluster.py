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
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from orchestrator.engine import labels
from orchestrator.engine.capacity import seat_memory
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
# The API version labs speaks to node engines: fixed, so making a client never contacts the
# engine (it is pinged with a deadline instead); 1.41 is Docker 20.10, newer engines accept it.
NODE_API_VERSION = "1.41"


def cluster_dir() -> Path:
    """Where the cluster CA and certificates live (``LABS_CLUSTER_DIR``, else ``<state>/cluster``)."""
    override = os.environ.get("LABS_CLUSTER_DIR")
    if override:
        return Path(override)
    from orchestrator.paths import state_dir

    return state_dir() / "cluster"


# -- reaching a node's engine ------------------------------------------------------------

_CLIENTS: dict[tuple[str, str, str], "docker.DockerClient"] = {}  # (node id, endpoint, cluster folder) -> client
_CLIENTS_LOCK = threading.Lock()


def tls_client(endpoint: str, *, folder: Path | None = None, timeout: float = 120) -> docker.DockerClient:
    """An SDK client for a node engine ``endpoint`` (tcp://HOST:PORT) that verifies the engine's
    certificate against the cluster CA and presents labs' client certificate. Not yet contacted."""
    import docker
    from docker.tls import TLSConfig

    parts = urlsplit(endpoint)
    try:
        port = parts.port or ENGINE_PORT
    except ValueError:
        port = None
    if parts.scheme != "tcp" or not parts.hostname or port is None:
        raise UsageError(f"engine endpoint {endpoint!r} is not tcp://HOST:PORT", f"for example tcp://10.0.0.12:{ENGINE_PORT}")
    folder = folder or cluster_dir()
    missing = [name for name in CA_FILES if not (folder / name).is_file()]
    if missing:
        raise EngineUnavailable(
            f"cannot reach the node engine at {endpoint}: the cluster TLS files {', '.join(missing)} are missing in {folder}",
            "run `labs cluster init` on the manager (or copy its cluster folder here, or set LABS_CLUSTER_DIR)",
        )
    tls = TLSConfig(client_cert=(str(folder / "cert.pem"), str(folder / "key.pem")), ca_cert=str(folder / "ca.pem"), verify=True)
    client = docker.DockerClient(base_url=f"https://{f'[{parts.hostname}]' if ':' in parts.hostname else parts.hostname}:{port}", tls=tls, timeout=timeout, version=NODE_API_VERSION)
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace the session's CA: only the
    # cluster CA may vouch for a node engine (and no proxy stands between labs and a node).
    client.api.trust_env = False
    return client


def quick_get(client: docker.DockerClient, path: str, deadline: float, *args, as_json: bool = True):
    """GET an Engine API ``path`` with its own ``deadline``, leaving the client's timeout alone:
    clients are shared between threads (node engines are cached, status asks nodes in parallel),
    so changing ``client.api.timeout`` for one quick question would change it for everyone."""
    api = client.api
    return api._result(api._get(api._url(path, *args), timeout=deadline), as_json)


def _ping(client: docker.DockerClient, what: str, deadline: float) -> None:
    """The engine answers a ping within ``deadline`` seconds, or ``EngineUnavailable`` naming it."""
    try:
        quick_get(client, "/_ping", deadline, as_json=False)
    except Exception as err:  # noqa: BLE001 - connection, TLS and timeout errors of every kind
        cause = _cause(err)
        if "CERTIFICATE_VERIFY_FAILED" in str(err) or "certificate" in cause.lower():
            raise EngineUnavailable(f"{what} refused the TLS handshake: {cause}", "the node's server certificate must come from this cluster's CA (`labs cluster init --node HOST`)") from None
        if cause == "timed out" or "Timeout" in type(err).__name__:
            raise EngineUnavailable(f"{what} did not answer within {deadline:g} s", "is the node up and port 2376 open to the manager? `labs cluster status` shows every node") from None
        raise EngineUnavailable(f"{what} is not reachable: {cause}", "is the node up and its engine listening with TLS on that endpoint? `labs cluster status` shows every node") from None


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def _node_name(node: dict) -> str:
    hostname = ((node.get("Description") or {}).get("Hostname")) or "?"
    return f"{hostname} ({node.get('ID', '?')[:12]})"


_OWN_IDS: "weakref.WeakKeyDictionary[docker.DockerClient, tuple[str, float]]" = weakref.WeakKeyDictionary()
OWN_ID_SECONDS = 30  # how long a manager's own node id is remembered (a swarm is rarely re-made)


def _own_node_id(client: docker.DockerClient, deadline: float) -> str:
    """The swarm node id of the engine ``client`` talks to ("" outside a swarm), remembered briefly:
    ``info()`` is the slowest call of ``node_engine``, which runs before every reach of a node."""
    now = time.monotonic()
    with _CLIENTS_LOCK:
        known = _OWN_IDS.get(client)
    if known and known[0] and now - known[1] < OWN_ID_SECONDS:
        return known[0]
    own = ((quick_get(client, "/info", deadline).get("Swarm") or {}).get("NodeID")) or ""
    with _CLIENTS_LOCK:
        _OWN_IDS[client] = (own, now)
    return own


def node_engine(manager_client: docker.DockerClient, node_id: str, *, deadline: float | None = None, timeout: float = 120) -> docker.DockerClient:
    """A client for the engine of swarm node ``node_id``: the manager's own client for the
    manager's own node, else a TLS client for the endpoint the node advertises in its label
    ``io.labs.engine`` (cached per node). The node must be ready and its engine must answer a
    ping within ``deadline`` seconds (default ``answer_deadline()``); otherwise one
    ``EngineUnavailable`` (exit 4) names the node and what is wrong — never a hang."""
    from docker.errors import APIError
    from docker.errors import NotFound as DockerNotFound

    deadline = deadline or answer_deadline()
    try:
        own = _own_node_id(manager_client, deadline)
        if not own:
            raise EngineUnavailable(f"cannot reach swarm node {node_id}: this engine is not part of a swarm", "`labs cluster init` on the manager; `labs cluster status` says more")
        if node_id == own:
            return manager_client
        node = quick_get(manager_client, "/nodes/{0}", deadline, node_id)
    except EngineUnavailable:
        raise
    except DockerNotFound:
        raise EngineUnavailable(f"swarm node {node_id} does not exist (left the cluster?)", "`labs cluster status` lists the nodes") from None
    except APIError as err:
        raise EngineUnavailable(f"the manager cannot look up swarm node {node_id}: {err.explanation or err}", "run labs on a swarm manager; `labs cluster status` says more") from None
    except Exception as err:  # noqa: BLE001 - the manager itself did not answer
        raise EngineUnavailable(f"the manager engine did not answer while looking up node {node_id}: {_cause(err)}", "`labs doctor` says what is wrong") from None
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
    folder = cluster_dir()
    key = (node["ID"], endpoint, str(folder))
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
    if client is None:
        client = tls_client(endpoint, folder=folder, timeout=timeout)
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


def swarm_node_addresses() -> frozenset[str]:
    """The addresses the nodes of the swarm labs drives advertise (where the Swarm engine
    publishes a lab's host-mode ports); empty when LABS_ENGINE is not swarm or the engine is no
    swarm manager. Asked once per process."""
    global _NODE_ADDRESSES
    if os.environ.get("LABS_ENGINE") != "swarm":
        return frozenset()
    if _NODE_ADDRESSES is None:
        from orchestrator.engine.client import connect

        client = connect()
        try:
            nodes = client.api.nodes() if ((client.info().get("Swarm") or {}).get("ControlAvailable")) else []
        finally:
            client.close()
        _NODE_ADDRESSES = frozenset(filter(None, ((n.get("Status") or {}).get("Addr") for n in nodes)))
    return _NODE_ADDRESSES


_NODE_ADDRESSES: frozenset[str] | None = None


def forget_node_engines() -> None:
    """Close and drop every cached node engine client."""
    with _CLIENTS_LOCK:
        for client in _CLIENTS.values():
            client.close()
        _CLIENTS.clear()


# -- membership and capacity --------------------------------------------------------------


@dataclass
class NodeStatus:
    id: str
    hostname: str
    role: str  # manager | worker
    state: str  # ready | down | unknown | disconnected
    availability: str  # active | pause | drain
    address: str  # the address the node uses in the swarm
    endpoint: str | None  # its engine endpoint (label io.labs.engine); None on the manager labs runs beside
    reachable: bool  # its engine answered labs within the deadline
    problem: str | None  # why not, when not
    cpus: float
    memory_bytes: int
    reserved_cpus: float  # reservations of labs tasks placed on it
    reserved_memory_bytes: int
    labs_tasks: int
    this_node: bool = False

    @property
    def free_memory_bytes(self) -> int:
        return max(0, self.memory_bytes - self.reserved_memory_bytes)

    @property
    def free_cpus(self) -> float:
        return max(0.0, self.cpus - self.reserved_cpus)

    @property
    def schedulable(self) -> bool:
        """Can Swarm place a new seat here, and can labs reach what it places?"""
        return self.state == "ready" and self.availability == "active" and self.reachable


@dataclass
class LabSeats:
    lab: str
    memory_bytes: int  # what one seat reserves (its services' memory limits)
    seats: int  # seats that fit now, over all schedulable nodes
    per_node: dict[str, int] = field(default_factory=dict)  # node id -> seats that fit there


@dataclass
class ClusterStatus:
    swarm: str  # inactive | pending | active | error | locked
    node_id: str  # this engine's node ("" outside a swarm)
    manager: bool  # this engine can see and manage the cluster
    nodes: list[NodeStatus]
    labs: list[LabSeats]
    ca: str | None  # the cluster CA file, when there is one
    detail: str = ""

    def to_dict(self) -> dict:
        data = asdict(self)
        for node, raw in zip(self.nodes, data["nodes"]):
            raw["free_memory_bytes"] = node.free_memory_bytes
            raw["free_cpus"] = node.free_cpus
        return data


def seats_on(nodes: list[NodeStatus], lab: Lab) -> LabSeats:
    """How many more seats of ``lab`` fit on the schedulable nodes now (a whole seat per node)."""
    need = seat_memory(lab)
    per_node = {node.id: node.free_memory_bytes // need if need else 0 for node in nodes if node.schedulable}
    return LabSeats(lab.id, need, sum(per_node.values()), per_node)


def _labs_reservations(client: docker.DockerClient) -> dict[str, tuple[float, int, int]]:
    """node id -> (CPUs, memory bytes, task count) reserved by labs tasks meant to run there."""
    services = {s["ID"] for s in client.api.services(filters={"label": f"{labels.MANAGED}=true"})}
    found: dict[str, tuple[float, int, int]] = {}
    if not services:
        return found
    for task in client.api.tasks(filters={"desired-state": "running"}):
        node_id = task.get("NodeID")
        if task.get("ServiceID") not in services or not node_id:
            continue
        resources = (task.get("Spec") or {}).get("Resources") or {}
        held = resources["Reservations"] if "Reservations" in resources else resources.get("Limits") or {}  # a seat's other anchors reserve nothing
        cpus, memory, count = found.get(node_id, (0.0, 0, 0))
        found[node_id] = (cpus + int(held.get("NanoCPUs") or 0) / 1e9, memory + int(held.get("MemoryBytes") or 0), count + 1)
    return found


def _reach(client: docker.DockerClient, node: dict, own: str, deadline: float) -> tuple[bool, str | None]:
    if node["ID"] == own:
        return True, None
    try:
        node_engine(client, node["ID"], deadline=deadline)
    except EngineUnavailable as err:
        return False, err.message
    return True, None


def cluster_status(client: docker.DockerClient, labs: list[Lab] = (), *, deadline: float | None = None) -> ClusterStatus:
    """The swarm this engine belongs to: every node (role, state, engine endpoint, whether labs
    reaches it, resources and what labs tasks reserve there) and how many seats of each of
    ``labs`` fit now. Node engines are asked in parallel, each within ``deadline`` seconds."""
    deadline = deadline or answer_deadline()
    ca = cluster_dir() / "ca.pem"
    ca_file = str(ca) if ca.is_file() else None
    try:
        info = client.info()
    except Exception as err:  # noqa: BLE001 - the manager itself did not answer
        raise EngineUnavailable(f"the engine did not answer while reading its swarm state: {_cause(err)}", "`labs doctor` says what is wrong") from None
    swarm = info.get("Swarm") or {}
    state = swarm.get("LocalNodeState") or "inactive"
    own = swarm.get("NodeID") or ""
    manager = bool(swarm.get("ControlAvailable"))
    if state != "active" or not manager:
        detail = swarm.get("Error") or (
            "this engine is not part of a swarm" if state == "inactive" else
            "this engine is a swarm worker: run labs on a manager" if state == "active" else f"swarm state {state}"
        )
        return ClusterStatus(state, own, manager, [], [], ca_file, detail)
    from orchestrator.engine.client import engine_errors

    with engine_errors("reading the swarm's nodes and tasks"):
        raw_nodes = client.api.nodes()
        reserved = _labs_reservations(client)
    with ThreadPoolExecutor(max_workers=min(16, max(1, len(raw_nodes)))) as pool:
        reach = list(pool.map(lambda node: _reach(client, node, own, deadline), raw_nodes))
    nodes = []
    for node, (reachable, problem) in zip(raw_nodes, reach):
        spec = node.get("Spec") or {}
        description = node.get("Description") or {}
        resources = description.get("Resources") or {}
        status = node.get("Status") or {}
        cpus, memory, count = reserved.get(node["ID"], (0.0, 0, 0))
        nodes.append(NodeStatus(
            id=node["ID"], hostname=description.get("Hostname", "?"), role=spec.get("Role", "?"), state=status.get("State", "unknown"),
            availability=spec.get("Availability", "?"), address=status.get("Addr", ""), endpoint=(spec.get("Labels") or {}).get(ENGINE_LABEL),
            reachable=reachable, problem=problem, cpus=int(resources.get("NanoCPUs") or 0) / 1e9, memory_bytes=int(resources.get("MemoryBytes") or 0),
            reserved_cpus=cpus, reserved_memory_bytes=memory, labs_tasks=count, this_node=node["ID"] == own,
        ))
    nodes.sort(key=lambda n: (not n.this_node, n.role != "manager", n.hostname, n.id))
    return ClusterStatus(state, own, manager, nodes, [seats_on(nodes, lab) for lab in labs], ca_file, f"{len(nodes)} node(s)")


def swarm_summary(client: docker.DockerClient) -> tuple[bool, str, str]:
    """One line for `labs doctor`: (ok, what the swarm looks like from this engine, what to do)."""
    state = cluster_status(client, deadline=min(3.0, answer_deadline()))
    engine = os.environ.get("LABS_ENGINE", "docker") or "docker"
    if state.swarm == "inactive":
        ok = engine != "swarm"
        return ok, "not part of a swarm: lab instances run on this engine alone", "" if ok else "LABS_ENGINE=swarm needs a swarm: `docker swarm init --advertise-addr ADDR` and `labs cluster init` (docs/classroom-cluster.md)"
    if not state.manager or state.swarm != "active":
        return False, state.detail, "run labs on a swarm manager (`docker node ls` works there); docs/classroom-cluster.md"
    lost = [n for n in state.nodes if not n.reachable or n.state != "ready"]
    detail = f"swarm manager: {len(state.nodes)} node(s), {len(state.nodes) - len(lost)} ready and reachable"
    if state.ca is None and len(state.nodes) > 1:
        return False, detail + "; no cluster CA", "`labs cluster init` makes the CA and the node engines' certificates"
    if lost:
        names = ", ".join(f"{n.hostname} ({n.problem or n.state})" for n in lost)
        return False, f"{detail}; not usable: {names}", "`labs cluster status` shows every node; docs/classroom-cluster.md says how a node joins"
    return True, detail, ""


# -- the cluster CA and certificates ------------------------------------------------------


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def _issue(common_name: str, *, ca: tuple | None, hosts: list[str] = (), usage: str = "ca") -> tuple[bytes, bytes, object, object]:
    """A new EC key and a certificate for it (PEM), signed by ``ca`` (cert, key) or self-signed."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_cert, issuer_key = ca if ca else (None, key)
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=CERT_DAYS if ca else 3650))
    )
    if usage == "ca":
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
    else:
        eku = ExtendedKeyUsageOID.SERVER_AUTH if usage == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True).add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    if hosts:
        names = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem, cert, key


def _load_ca(folder: Path) -> tuple:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificate((folder / "ca.pem").read_bytes())
        key = serialization.load_pem_private_key((folder / "ca-key.pem").read_bytes(), password=None)
    except FileNotFoundError as err:
        raise NotFound(f"no cluster CA in {folder}: {Path(err.filename).name} is missing", "`labs cluster init` on the manager makes it (it must hold ca-key.pem)") from None
    except ValueError as err:
        raise UsageError(f"the cluster CA in {folder} cannot be read: {err}", f"move {folder} aside and run `labs cluster init` again (every node then needs new certificates)") from None
    return cert, key


def ensure_ca(folder: Path | None = None) -> tuple[Path, bool]:
    """The cluster CA and labs' client certificate in ``folder`` (made when absent): (folder, made)."""
    folder = folder or cluster_dir()
    if (folder / "ca.pem").is_file() and (folder / "ca-key.pem").is_file():
        made = False
        ca = _load_ca(folder)
    else:
        cert_pem, key_pem, cert, key = _issue("labs cluster CA", ca=None, usage="ca")
        _write(folder / "ca-key.pem", key_pem, private=True)
        _write(folder / "ca.pem", cert_pem)
        made, ca = True, (cert, key)
    if made or not (folder / "cert.pem").is_file() or not (folder / "key.pem").is_file():
        cert_pem, key_pem, _, _ = _issue("labs", ca=ca, usage="client")
        _write(folder / "key.pem", key_pem, private=True)
        _write(folder / "cert.pem", cert_pem)
    return folder, made


def issue_node_cert(host: str, *, extra_hosts: list[str] = (), folder: Path | None = None) -> Path:
    """A server certificate for the engine of the node reached at ``host`` (an IP or DNS name,
    plus ``extra_hosts``), signed by the cluster CA: ``<cluster>/nodes/<host>/`` with ca.pem,
    server-cert.pem and server-key.pem, to copy to that node."""
    folder = folder or cluster_dir()
    ca = _load_ca(folder)
    if not host or "/" in host or host.startswith("."):
        raise UsageError(f"node host {host!r} is not an IP address or DNS name", "for example `--node 10.0.0.12` or `--node node2.example.org`")
    cert_pem, key_pem, _, _ = _issue(host, ca=ca, hosts=[host, *extra_hosts], usage="server")
    out = folder / "nodes" / host
    _write(out / "server-key.pem", key_pem, private=True)
    _write(out / "server-cert.pem", cert_pem)
    _write(out / "ca.pem", (folder / "ca.pem").read_bytes())
    return out


def daemon_json(tls_folder: str = "/etc/docker/labs-tls") -> dict:
    """The dockerd settings that serve a node's engine with TLS on 2376 (client certificates required)."""
    return {
        "hosts": ["unix:///var/run/docker.sock", f"tcp://0.0.0.0:{ENGINE_PORT}"],
        "tlsverify": True,
        "tlscacert": f"{tls_folder}/ca.pem",
        "tlscert": f"{tls_folder}/server-cert.pem",
        "tlskey": f"{tls_folder}/server-key.pem",
    }


@dataclass
class InitResult:
    folder: str  # the cluster folder (CA, labs' client certificate)
    ca_created: bool
    node_certs: dict[str, str]  # node host -> folder of its engine's TLS files
    swarm: str  # the swarm state after init
    manager_address: str | None  # ADDR:2377 that workers join
    worker_token: str | None
    daemon_json: dict
    steps: list[str]  # what each node needs, in order


def init_cluster(client: docker.DockerClient, nodes: list[str] = (), *, advertise_addr: str | None = None, folder: Path | None = None) -> InitResult:
    """Make (or keep) the cluster CA and labs' client certificate, a server certificate for the
    engine of each node host in ``nodes``, and — when this engine is in no swarm and
    ``advertise_addr`` is given — a swarm with this engine as its manager. Says what each node
    needs to join."""
    from docker.errors import APIError

    folder, made = ensure_ca(folder)
    certs = {host: str(issue_node_cert(host, folder=folder)) for host in nodes}
    swarm = (client.info().get("Swarm") or {})
    if swarm.get("LocalNodeState") == "inactive" and advertise_addr:
        try:
            client.swarm.init(advertise_addr=advertise_addr, listen_addr=f"{advertise_addr}:2377")
        except APIError as err:
            raise EngineUnavailable(f"`swarm init` on {advertise_addr} was refused: {err.explanation or err}", "give an address of this machine the other nodes reach (`--advertise-addr`)") from None
        swarm = client.info().get("Swarm") or {}
    token = address = None
    if swarm.get("ControlAvailable"):
        token = (client.swarm.attrs.get("JoinTokens") or {}).get("Worker")
        address = next((m.get("Addr") for m in swarm.get("RemoteManagers") or [] if m.get("NodeID") == swarm.get("NodeID")), None)
    join = f"docker swarm join --token {token} {address}" if token and address else "docker swarm join --token TOKEN MANAGER:2377 (`docker swarm join-token worker` on the manager prints it)"
    steps = [
        "install Docker Engine 20.10 or newer on the node",
        f"copy <cluster>/nodes/<HOST>/ (ca.pem, server-cert.pem, server-key.pem) to the node's /etc/docker/labs-tls/",
        f"put the daemon.json settings below in /etc/docker/daemon.json (on systemd, drop `-H fd://` from the unit) and restart docker",
        f"open {ENGINE_PORT}/tcp to the manager only, and {SWARM_PORTS} between the nodes",
        f"on the node: {join}",
        f"on the manager: labs cluster join NODE --endpoint tcp://HOST:{ENGINE_PORT}",
        "check: labs cluster status",
    ]
    if address and _is_loopback(address.rsplit(":", 1)[0]):
        steps.insert(0, f"this swarm advertises {address}, which no other machine reaches: make it again on an address the nodes reach (`docker swarm leave --force`, then `labs cluster init --advertise-addr ADDR`)")
    return InitResult(str(folder), made, certs, swarm.get("LocalNodeState", "inactive"), address, token, daemon_json(), steps)


@dataclass
class JoinResult:
    node: str  # the node id
    hostname: str
    endpoint: str


def join_cluster(client: docker.DockerClient, node: str, endpoint: str, *, deadline: float | None = None, folder: Path | None = None) -> JoinResult:
    """Label swarm node ``node`` (an id, id prefix or hostname) with its engine ``endpoint``, once
    labs reached that engine over TLS with the cluster CA and it said it is that very node."""
    from docker.errors import APIError

    deadline = deadline or answer_deadline()
    with_tls = tls_client(endpoint, folder=folder, timeout=deadline)
    try:
        matches = [n for n in client.api.nodes() if n["ID"] == node or n["ID"].startswith(node) or (n.get("Description") or {}).get("Hostname") == node]
    except APIError as err:
        raise EngineUnavailable(f"cannot list the swarm's nodes: {err.explanation or err}", "run `labs cluster join` on a swarm manager") from None
    if len(matches) != 1:
        what = "no swarm node" if not matches else f"{len(matches)} swarm nodes"
        raise NotFound(f"{what} match {node!r}", "`docker node ls` on the manager lists the node ids and hostnames")
    found = matches[0]
    name = _node_name(found)
    try:
        _ping(with_tls, f"the engine at {endpoint}", deadline)
        answered = ((quick_get(with_tls, "/info", deadline).get("Swarm") or {}).get("NodeID")) or ""
    finally:
        with_tls.close()
    if answered != found["ID"]:
        raise UsageError(f"the engine at {endpoint} is not swarm node {name} (it is {answered or 'in no swarm'})", "give the endpoint of that node's own engine")
    spec = dict(found["Spec"])
    spec["Labels"] = {**(spec.get("Labels") or {}), ENGINE_LABEL: endpoint}
    try:
        client.api.update_node(found["ID"], found["Version"]["Index"], spec)
    except APIError as err:
        raise EngineUnavailable(f"labelling swarm node {name} was refused: {err.explanation or err}", "retry; run it on a swarm manager") from None
    return JoinResult(found["ID"], (found.get("Description") or {}).get("Hostname", "?"), endpoint)
