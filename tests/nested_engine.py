"""A real two-node Swarm cluster on one machine: the host engine as manager, a second Docker
engine running as a container (tests/images/nested-engine) as worker.

The nested engine serves its API with TLS on tcp 2376 (a server certificate from the labs
cluster CA, for its container address), joins the host engine's swarm as a worker, and is
labelled with its endpoint (``labs cluster join``'s core), exactly as a cloud VM would be.
The host swarm advertises the default bridge's gateway (docker0, an address of this machine
the nested container reaches); nothing leaves the machine.

Everything is torn down at the end, even when a test fails: the worker leaves the swarm, its
node is removed, its container and storage volume are removed, and the host engine leaves
the swarm only when this module initialized it and nothing else uses it.

    with host_swarm(client) as manager_addr:
        with NestedEngine(client, cluster_folder) as node:
            node.load_images(["labs/nginx:..."])
            node.client      # its engine over TLS
            node.node_id     # its swarm node id
            node.kill()      # it disappears (as a crashed VM would)
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import ipaddress
import tarfile
import time
import uuid
from pathlib import Path

import docker
from docker.errors import APIError, NotFound
from docker.types import Mount

from orchestrator.engine.cluster import ENGINE_PORT, ensure_ca, issue_node_cert, join_cluster, tls_client

IMAGE_DIR = Path(__file__).resolve().parent / "images" / "nested-engine"
TEST_LABEL = "io.labs.test"  # "nested-engine" on its image, containers and volumes
START_DEADLINE = 120  # seconds for the nested engine to answer over TLS
JOIN_DEADLINE = 60  # seconds for it to be a ready worker


class ClusterUnavailable(RuntimeError):
    """The host engine cannot be the manager of a test cluster (said plainly, never a hang)."""


def _wait(what: str, deadline: float, probe, every: float = 0.5):
    """Call ``probe`` until it returns something true (or ``deadline`` seconds pass)."""
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        try:
            found = probe()
            if found:
                return found
        except Exception as err:  # noqa: BLE001 - keep trying until the deadline, then say the last error
            last = err
        time.sleep(every)
    raise TimeoutError(f"{what}: not within {deadline:g} s" + (f" (last error: {last})" if last else ""))


def image_tag() -> str:
    """The nested engine image's tag, by the hash of its build context."""
    digest = hashlib.sha256()
    for path in sorted(IMAGE_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(IMAGE_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return f"labs-test/nested-engine:{digest.hexdigest()[:12]}"


def ensure_image(client: docker.DockerClient) -> str:
    tag = image_tag()
    if not client.images.list(name=tag):
        client.images.build(path=str(IMAGE_DIR), tag=tag, rm=True, forcerm=True, labels={TEST_LABEL: "nested-engine"}, timeout=900)
    return tag


def bridge_gateway(client: docker.DockerClient) -> str:
    """The default bridge's gateway: an address of this machine every container reaches."""
    config = (client.networks.get("bridge").attrs.get("IPAM") or {}).get("Config") or []
    gateway = next((c.get("Gateway") for c in config if c.get("Gateway")), None)
    if not gateway:
        raise ClusterUnavailable("the default bridge network has no gateway address")
    return gateway


@contextlib.contextmanager
def host_swarm(client: docker.DockerClient):
    """The host engine as a swarm manager workers in containers can reach; yields ADDR:2377.

    An active swarm is used as it is when it advertises a reachable address (and kept at the
    end); a new one is initialized on the bridge gateway and left at the end if nothing else
    (another service, another node) uses it by then."""
    swarm = client.info().get("Swarm") or {}
    state = swarm.get("LocalNodeState")
    initialized = False
    if state == "active":
        if not swarm.get("ControlAvailable"):
            raise ClusterUnavailable("the host engine is a worker of another swarm: it cannot manage a test cluster")
        addr = swarm.get("NodeAddr") or ""
        if ipaddress.ip_address(addr).is_loopback:
            raise ClusterUnavailable(
                f"the host engine's swarm advertises {addr}, which a worker in a container cannot reach; "
                f"initialize it on the bridge gateway instead: docker swarm init --advertise-addr {bridge_gateway(client)}"
            )
    elif state == "inactive":
        addr = bridge_gateway(client)
        client.swarm.init(advertise_addr=addr, listen_addr=f"{addr}:2377")
        initialized = True
    else:
        raise ClusterUnavailable(f"the host engine's swarm is {state}: {swarm.get('Error') or 'not usable'}")
    try:
        yield f"{addr}:2377"
    finally:
        if initialized:
            with contextlib.suppress(APIError):
                others = [n for n in client.api.nodes() if n["ID"] != swarm_node_id(client)]
                if not others and not client.api.services():
                    client.swarm.leave(force=True)


def swarm_node_id(client: docker.DockerClient) -> str:
    return (client.info().get("Swarm") or {}).get("NodeID") or ""


class NestedEngine:
    """A Docker engine in a container, joined to the host swarm as a worker and labelled with
    its TLS endpoint. A context manager: everything it made is removed on exit."""

    def __init__(self, host: docker.DockerClient, cluster_folder: Path, manager_addr: str):
        self.host = host
        self.folder = cluster_folder
        self.manager_addr = manager_addr
        self.name = f"labs-test-nested-{uuid.uuid4().hex[:8]}"
        self.container = None
        self.client: docker.DockerClient | None = None
        self.node_id = ""
        self.address = ""
        self.timings: dict[str, float] = {}

    @property
    def endpoint(self) -> str:
        return f"tcp://{self.address}:{ENGINE_PORT}"

    def __enter__(self) -> NestedEngine:
        try:
            self.start()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def start(self) -> None:
        began = time.monotonic()
        tag = ensure_image(self.host)
        ensure_ca(self.folder)
        self.timings["image"] = time.monotonic() - began
        began = time.monotonic()
        self.container = self.host.containers.run(
            tag,
            name=self.name,
            hostname=self.name,
            detach=True,
            labels={TEST_LABEL: "nested-engine"},
            cap_add=["ALL"],
            cap_drop=["SYS_RESOURCE"],
            security_opt=["seccomp=unconfined"],
            cgroupns="host",
            volumes={"/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw"}},
            mounts=[Mount("/var/lib/docker", None, type="volume", labels={TEST_LABEL: "nested-engine"})],
        )
        self.container.reload()
        self.address = self.container.attrs["NetworkSettings"]["IPAddress"]
        certs = issue_node_cert(self.address, folder=self.folder)
        self.container.put_archive("/", _tar({f"certs/{name}": (certs / name).read_bytes() for name in ("ca.pem", "server-cert.pem", "server-key.pem")}))
        self.client = tls_client(self.endpoint, folder=self.folder, timeout=300)
        _wait(f"nested engine {self.name} answering on {self.endpoint}", START_DEADLINE, self._answers)
        self.timings["engine"] = time.monotonic() - began
        began = time.monotonic()
        token = self.host.swarm.attrs["JoinTokens"]["Worker"]
        self.client.swarm.join(remote_addrs=[self.manager_addr], join_token=token, advertise_addr=self.address, listen_addr="0.0.0.0:2377")
        self.node_id = _wait("the nested engine's node id", JOIN_DEADLINE, lambda: swarm_node_id(self.client))
        _wait(f"swarm node {self.node_id} ready", JOIN_DEADLINE, lambda: self.host.api.inspect_node(self.node_id)["Status"]["State"] == "ready")
        join_cluster(self.host, self.node_id, self.endpoint, deadline=10)
        self.timings["join"] = time.monotonic() - began

    def _answers(self) -> bool:
        self.container.reload()
        if self.container.status != "running":
            raise ClusterUnavailable(f"nested engine {self.name} stopped: {self.container.logs(tail=20).decode(errors='replace')}")
        self.client.api.timeout = 3
        try:
            return self.client.ping()
        finally:
            self.client.api.timeout = 300

    def load_images(self, refs: list[str]) -> float:
        """Copy images from the host engine into the nested one (save | load); returns seconds."""
        began = time.monotonic()
        for ref in refs:
            self.client.api.load_image(self.host.api.get_image(ref, chunk_size=1024 * 1024))
            if not self.client.images.list(name=ref):
                raise RuntimeError(f"{ref} was not loaded into the nested engine")
        took = time.monotonic() - began
        self.timings["load"] = self.timings.get("load", 0) + took
        return took

    def kill(self) -> None:
        """The node disappears at once, as a crashed VM would (its container is killed)."""
        with contextlib.suppress(NotFound, APIError):
            self.container.kill()

    def remove(self) -> None:
        """Leave the swarm, remove the node from it, remove the container and its storage."""
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.api.timeout = 10
                self.client.swarm.leave(force=True)
            self.client.close()
        if self.node_id:
            with contextlib.suppress(NotFound):
                try:
                    self.host.api.remove_node(self.node_id, force=True)
                except APIError:  # a node still "ready" for the manager: wait for it to be seen leaving
                    with contextlib.suppress(TimeoutError):
                        _wait(f"node {self.node_id} seen down", 30, lambda: self.host.api.inspect_node(self.node_id)["Status"]["State"] != "ready")
                    with contextlib.suppress(APIError):
                        self.host.api.remove_node(self.node_id, force=True)
        if self.container is not None:
            with contextlib.suppress(NotFound):
                self.container.remove(force=True, v=True)


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600 if name.endswith("key.pem") else 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
