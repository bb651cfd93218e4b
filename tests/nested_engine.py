"""A real two-node Swarm cluster on one machine: Docker engines running as containers
(tests/images/nested-engine), one the swarm's manager, one (or more) its workers.

Each nested engine serves its API with TLS on tcp 2376 (a server certificate from the labs
cluster CA, for its container address), exactly as a cloud VM's engine would. The manager
makes a swarm advertised on its container address; a worker joins it and is labelled with
its endpoint by ``labs cluster join``'s core. The cluster is its own: the host engine's swarm
state is never touched (other work on this machine may be using it, and a worker joined to
it would receive that work's tasks), and nothing leaves the machine (the engines talk over
the default bridge).

Everything is torn down at the end, even when a test fails: each worker leaves the swarm and
its node is removed, then every container and its storage volume is removed. Nested engines
left by a test process that was killed outright are removed when the next one starts.

    with nested_cluster(host_client, cluster_folder) as (manager, worker):
        manager.client      # the manager's engine over TLS (what labs connects to)
        worker.node_id      # its swarm node id
        worker.load_images(["debian:bookworm"])   # from the host engine (save | load)
        load_images(host_client, [manager, worker], refs)   # into both at once, saved once
        worker.kill()       # it disappears at once, as a crashed VM would

The labs CLI reaches the manager with ``manager.cli_env()`` (DOCKER_HOST and TLS settings).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
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
OWNER_LABEL = "io.labs.test.owner"  # "<hostname>:<pid>" of the test process that started a nested engine
START_DEADLINE = 120  # seconds for the nested engine to answer over TLS
JOIN_DEADLINE = 60  # seconds for it to be a ready worker


class NestedEngineFailed(RuntimeError):
    """A nested engine stopped while starting (its log says why): no point waiting longer."""


def _wait(what: str, deadline: float, probe, every: float = 0.5):
    """Call ``probe`` until it returns something true (or ``deadline`` seconds pass)."""
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        try:
            found = probe()
            if found:
                return found
        except NestedEngineFailed:
            raise
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


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def reap_orphans(host: docker.DockerClient) -> list[str]:
    """Remove nested engines whose test process is gone (killed before its teardown ran):
    only those this machine's processes started, never one whose owner still runs."""
    removed = []
    for container in host.containers.list(all=True, filters={"label": f"{TEST_LABEL}=nested-engine"}, ignore_removed=True):
        machine, _, pid = (container.labels.get(OWNER_LABEL) or "").partition(":")
        if machine != socket.gethostname() or not pid.isdigit() or Path(f"/proc/{pid}").exists():
            continue
        with contextlib.suppress(NotFound, APIError):
            container.remove(force=True, v=True)
            removed.append(container.name)
    return removed


def swarm_node_id(client: docker.DockerClient) -> str:
    return (client.info().get("Swarm") or {}).get("NodeID") or ""


class NestedEngine:
    """A Docker engine in a container, serving its API with TLS from the cluster CA. A context
    manager: everything it made is removed on exit (its node too, for a worker)."""

    def __init__(self, host: docker.DockerClient, cluster_folder: Path):
        self.host = host
        self.folder = cluster_folder
        self.manager: NestedEngine | None = None  # the manager it joined, for a worker
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
        reap_orphans(self.host)
        ensure_ca(self.folder)
        self.timings["image"] = time.monotonic() - began
        began = time.monotonic()
        self.container = self.host.containers.run(
            tag,
            name=self.name,
            hostname=self.name,
            detach=True,
            labels={TEST_LABEL: "nested-engine", OWNER_LABEL: _owner()},
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

    def init_swarm(self) -> None:
        """Make a swarm with this engine as its manager, and label its node with its endpoint."""
        self.client.swarm.init(advertise_addr=self.address, listen_addr=f"{self.address}:2377")
        self.node_id = swarm_node_id(self.client)
        join_cluster(self.client, self.node_id, self.endpoint, deadline=30, folder=self.folder)

    def join(self, manager: NestedEngine) -> None:
        """Join ``manager``'s swarm as a worker; the manager labels it with its endpoint."""
        began = time.monotonic()
        token = manager.client.swarm.attrs["JoinTokens"]["Worker"]
        self.manager = manager
        self.client.swarm.join(remote_addrs=[f"{manager.address}:2377"], join_token=token, advertise_addr=self.address, listen_addr="0.0.0.0:2377")
        self.node_id = _wait("the nested engine's node id", JOIN_DEADLINE, lambda: swarm_node_id(self.client))
        _wait(f"swarm node {self.node_id} ready", JOIN_DEADLINE, lambda: manager.client.api.inspect_node(self.node_id)["Status"]["State"] == "ready")
        join_cluster(manager.client, self.node_id, self.endpoint, deadline=30, folder=self.folder)
        self.timings["join"] = time.monotonic() - began

    def cli_env(self) -> dict[str, str]:
        """Environment for the labs CLI to use this engine (over TLS with the cluster files)."""
        return {"DOCKER_HOST": self.endpoint, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(self.folder), "LABS_CLUSTER_DIR": str(self.folder)}

    def _answers(self) -> bool:
        self.container.reload()
        if self.container.status != "running":
            raise NestedEngineFailed(f"nested engine {self.name} stopped: {self.container.logs(tail=20).decode(errors='replace')}")
        self.client.api.timeout = 3
        try:
            return self.client.ping()
        finally:
            self.client.api.timeout = 300

    def load_images(self, refs: list[str]) -> float:
        """Copy images from the host engine into the nested one (save | load); returns seconds."""
        return load_images(self.host, [self], refs)

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
        if self.node_id and self.manager is not None and self.manager.client is not None:
            with contextlib.suppress(Exception):
                self.manager.client.api.timeout = 30
                self.manager.client.api.remove_node(self.node_id, force=True)
        if self.container is not None:
            with contextlib.suppress(NotFound):
                self.container.remove(force=True, v=True)


def load_images(host: docker.DockerClient, engines: list[NestedEngine], refs: list[str]) -> float:
    """Copy images from the host engine into nested engines, all at once: saved once into one
    archive (layers the images share stored once), loaded into every engine in parallel;
    returns seconds."""
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="labs-test-images-") as tmp:
        archive = Path(tmp) / "images.tar"
        response = host.api._get(host.api._url("/images/get"), params={"names": refs}, stream=True)
        host.api._raise_for_status(response)
        with open(archive, "wb") as handle:
            for chunk in response.iter_content(chunk_size=1 << 20):
                handle.write(chunk)

        def load(engine: NestedEngine) -> None:
            with open(archive, "rb") as handle:
                for message in engine.client.api.load_image(handle, quiet=True):  # to the end: the load is done then
                    if "error" in message:
                        raise RuntimeError(f"loading images into nested engine {engine.name}: {message['error']}")
            missing = [ref for ref in refs if not engine.client.images.list(name=ref)]
            if missing:
                raise RuntimeError(f"{', '.join(missing)} not loaded into nested engine {engine.name}")

        with ThreadPoolExecutor(max_workers=len(engines)) as pool:
            list(pool.map(load, engines))
    took = time.monotonic() - began
    for engine in engines:
        engine.timings["load"] = engine.timings.get("load", 0) + took
    return took


@contextlib.contextmanager
def nested_cluster(host: docker.DockerClient, cluster_folder: Path):
    """A manager and a worker, both nested engines; yields (manager, worker), removes both."""
    with NestedEngine(host, cluster_folder) as manager:
        manager.init_swarm()
        with NestedEngine(host, cluster_folder) as worker:
            worker.join(manager)
            yield manager, worker


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o600 if name.endswith("key.pem") else 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
