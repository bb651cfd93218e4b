"""Learner-built images: the one place that builds an image from what a learner wrote, and runs it.

A build lab can ask the learner for a Dockerfile. Its check builds that Dockerfile THROUGH THE
ENGINE, never with tools in the learner's container:

- the build context is read out of the learner's workspace through the engine's archive API
  (nothing runs in their container), bounded in size;
- the build runs with the network disabled (``network_mode="none"``): a ``RUN`` can reach
  nothing, so the image holds only what the base and the context hold;
- the base must be one the lab provides, under a stable alias (``FROM labs/appbase:bookworm``):
  every ``FROM`` is checked before the build, so the engine never tries to pull anything;
- the image and every container run from it carry the instance's labels
  (``io.labs.built=true``), so ``labs stop`` removes them with the instance, and a bounded
  build time ends a build that hangs;
- a failed build is one ``BuildFailed`` (exit 7) quoting the last lines of its output.

``run_built`` starts a built image as a container hardened like lab containers (every
capability dropped, no new privileges, the default limits) on the instance's network, which
has no egress.
"""

from __future__ import annotations

import contextlib
import io
import re
import secrets
import tarfile
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.engine import labels
from orchestrator.errors import BuildFailed, LabsError

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from orchestrator.engine.instances import LabInstance

BUILT = f"{labels.PREFIX}.built"  # "true" on an image built from a learner's files, and on its containers
CONTEXT_LIMIT = 32 * 1024 * 1024  # bytes of build context read out of a workspace
BUILD_SECONDS = 180.0  # a learner's build that takes longer is ended
BUILD_MEMORY = 512 * 1024 * 1024  # memory of each build step's container
TAIL_LINES = 12  # lines of build output quoted when a build fails
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NOISE = ("Removing intermediate container", " ---> ")
_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$", re.IGNORECASE)


@dataclass
class BuiltImage:
    """An image built from a learner's files, as the engine reports it (its config, not their word)."""

    id: str
    tag: str
    size: int  # bytes, as the engine counts them (the base included)
    user: str  # the image's USER ('' when none: root)
    healthcheck: list[str]  # the image's HEALTHCHECK test ([] when none; ['NONE'] when disabled)
    health_interval: float  # seconds between health checks (0: the engine's default of 30 s)
    exposed_ports: list[int]
    output: str  # the build's output


def built_labels(instance: LabInstance) -> dict[str, str]:
    return {**labels.managed(), labels.LAB: instance.lab_id, labels.INSTANCE: instance.key, BUILT: "true"}


def _client(instance: LabInstance):
    if not instance.containers:
        raise LabsError(f"lab {instance.key} has no containers", f"start it again (`labs start {instance.lab_id}`)")
    return next(iter(instance.containers.values())).client


# --------------------------------------------------------------------------- the build context


def context_from_container(container: Container, path: str, *, limit: int = CONTEXT_LIMIT) -> bytes:
    """The folder ``path`` of a container as a build context (a tar with the folder's contents at
    its root), read through the engine's archive API. Refuses a context bigger than ``limit``."""
    from docker.errors import NotFound as DockerNotFound

    try:
        stream, stat = container.get_archive(path.rstrip("/") or "/")
    except DockerNotFound:
        raise BuildFailed(f"there is no {path} in {container.name} to build from", "write your files there") from None
    if not (stat.get("mode", 0) & (1 << 31)):  # os.ModeDir in the engine's stat
        raise BuildFailed(f"{path} in {container.name} is not a folder", "the build context is a folder")
    raw = io.BytesIO()
    for chunk in stream:
        raw.write(chunk)
        if raw.tell() > limit:
            raise BuildFailed(f"the build context {path} is bigger than {limit // 2**20} MiB", "keep large files out of the folder you build (or list them in .dockerignore)")
    raw.seek(0)
    top = stat.get("name", "")
    out = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="r|") as source, tarfile.open(fileobj=out, mode="w") as context:
        for member in source:
            name = member.name
            if name == top:
                continue
            if not name.startswith(top + "/"):
                continue
            member.name = name[len(top) + 1:]
            if member.name.startswith("/") or ".." in member.name.split("/"):
                continue
            context.addfile(member, source.extractfile(member) if member.isreg() else None)
    return out.getvalue()


def base_images(dockerfile: str) -> list[str]:
    """Every image a Dockerfile builds FROM (stage names left out), in order."""
    stages: set[str] = set()
    bases: list[str] = []
    lines = dockerfile.replace("\\\n", " ").splitlines()
    for line in lines:
        match = _FROM.match(line)
        if not match:
            continue
        ref, stage = match.group(1), match.group(2)
        if ref.lower() not in stages:
            bases.append(ref)
        if stage:
            stages.add(stage.lower())
    return bases


def _dockerfile_of(context: bytes, name: str, where: str) -> str:
    with tarfile.open(fileobj=io.BytesIO(context)) as tar:
        try:
            member = tar.getmember(name)
        except KeyError:
            member = None
        handle = tar.extractfile(member) if member is not None and member.isreg() else None
        if handle is None:
            raise BuildFailed(f"there is no {where}", f"write a {name} at the top of the folder that is built")
        return handle.read().decode("utf-8", "replace")


def check_bases(dockerfile: str, allowed: dict[str, str], where: str) -> None:
    """Refuse any FROM that is not one of the ``allowed`` aliases (so nothing is ever pulled)."""
    bases = base_images(dockerfile)
    if not bases:
        raise BuildFailed(f"{where} has no FROM line", f"start it with FROM {next(iter(allowed), 'an allowed base')}")
    for ref in bases:
        if ref not in allowed:
            raise BuildFailed(
                f"{where} builds FROM {ref}, which this lab does not provide (nothing is pulled: builds are offline)",
                f"use the lab's base image: {', '.join(allowed)}",
            )


# --------------------------------------------------------------------------- building


def build_image(
    instance: LabInstance,
    context: bytes,
    *,
    bases: dict[str, str],
    dockerfile: str = "Dockerfile",
    where: str = "the Dockerfile",
    seconds: float = BUILD_SECONDS,
) -> BuiltImage:
    """Build ``context`` (a tar) with the network disabled, labelled with the instance.

    ``bases``: FROM alias -> the image it names (a tag or id the engine has); each alias is
    tagged first, and a FROM naming anything else is refused before the build. A build that
    fails or takes longer than ``seconds`` raises ``BuildFailed`` with its last lines."""
    from docker.errors import APIError

    client = _client(instance)
    check_bases(_dockerfile_of(context, dockerfile, where), bases, where)
    for alias, image in bases.items():
        repository, _, tag = alias.partition(":")
        client.images.get(image).tag(repository, tag or "latest")
    name = f"labs-built/{instance.lab_id}:{instance.instance}-{secrets.token_hex(4)}"
    log: list[str] = []
    started = time.monotonic()

    def failed(what: str, fix: str) -> BuildFailed:
        tail = "\n".join(line for line in log[-TAIL_LINES:] if line.strip())
        return BuildFailed(f"{what}; its last lines:\n{tail or '(no output)'}", fix)

    try:
        stream = client.api.build(
            fileobj=io.BytesIO(context),
            custom_context=True,
            dockerfile=dockerfile,
            tag=name,
            rm=True,
            forcerm=True,
            pull=False,
            nocache=False,
            network_mode="none",
            decode=True,
            labels=built_labels(instance),
            container_limits={"memory": BUILD_MEMORY, "memswap": BUILD_MEMORY},
            timeout=seconds + 30,
        )
        for chunk in stream:
            if "error" in chunk:
                log.append(_ANSI.sub("", str(chunk["error"])).strip())
                raise failed(f"building {where} failed", "fix the step named above; the build has no network, so everything must come from the base image or your folder")
            for line in _ANSI.sub("", chunk.get("stream") or "").splitlines():
                if line.strip() and not line.startswith(_NOISE):
                    log.append(line.rstrip())
            if time.monotonic() - started > seconds:
                with contextlib.suppress(Exception):
                    stream.close()
                raise failed(f"building {where} took longer than {seconds:.0f} s and was stopped", "a step waits for something that never comes (the build has no network)")
    except APIError as err:
        log.append(str(err.explanation or err))
        raise failed(f"building {where} failed", "see the engine's message above") from None
    except BuildFailed:
        remove_built(client, instance.key, only=name)
        raise
    image = client.images.get(name)
    config = image.attrs.get("Config") or {}
    health = config.get("Healthcheck") or {}
    return BuiltImage(
        id=image.id,
        tag=name,
        size=int(image.attrs.get("Size") or 0),
        user=config.get("User") or "",
        healthcheck=list(health.get("Test") or []),
        health_interval=(health.get("Interval") or 0) / 1e9,
        exposed_ports=sorted(int(p.split("/")[0]) for p in (config.get("ExposedPorts") or {})),
        output="\n".join(log),
    )


def image_size(instance: LabInstance, image: str) -> int:
    """The size in bytes of an image the engine has (a tag or id)."""
    return int(_client(instance).images.get(image).attrs.get("Size") or 0)


# --------------------------------------------------------------------------- running


def run_built(instance: LabInstance, image: BuiltImage, *, alias: str, env: dict[str, str] | None = None) -> Container:
    """Start ``image`` as a container on the instance's network (reachable by ``alias``),
    hardened like lab containers and labelled with the instance; the caller removes it
    (``labs stop`` does too)."""
    from orchestrator.spec import Limits

    if instance.network is None:
        raise LabsError(f"lab {instance.key} has no network to run the built image on", f"start it again (`labs start {instance.lab_id}`)")
    client = _client(instance)
    limits = Limits()
    container = client.containers.create(
        image.id,
        name=f"{instance.key.replace('.', '-')}-built-{alias}-{secrets.token_hex(3)}",
        hostname=alias,
        environment=env or {},
        labels={**built_labels(instance), labels.PROBE: "true"},
        network=instance.network.id,
        networking_config={instance.network.id: client.api.create_endpoint_config(aliases=[alias])},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        privileged=False,
        mem_limit=limits.memory_bytes,
        memswap_limit=limits.memory_bytes,
        nano_cpus=int(limits.cpus * 1e9),
        pids_limit=limits.pids,
        detach=True,
    )
    container.start()
    return container


class RunningImage:
    """A container of a built image, as a check sees it: by its alias on the lab network, its
    health as the engine reports it, and its processes as a pristine probe sees them."""

    def __init__(self, instance: LabInstance, container: Container, alias: str, probe_image):
        self.instance, self.container, self.alias, self._probe_image = instance, container, alias, probe_image

    def health(self) -> str:
        return health(self.container)

    def health_log(self) -> list[str]:
        return health_log(self.container)

    def restart(self, timeout: int = 10) -> None:
        self.container.restart(timeout=timeout)

    def logs(self) -> str:
        return self.container.logs().decode("utf-8", "replace")

    def processes(self) -> list[tuple[int, str]]:
        """(uid, command line) of every process in the container, read by ``ps`` from a pristine
        probe joined to its pid namespace (nothing runs in the built container). ``runc init``
        is the engine bootstrapping an exec (the HEALTHCHECK runs every few seconds) and lives
        for milliseconds: a listing that catches one is read again, a few times at most."""
        import time

        for attempt in range(4):
            mine = self._list_processes()
            if not any(args == "runc init" for _, args in mine) or attempt == 3:
                return mine
            time.sleep(0.3)
        return mine

    def _list_processes(self) -> list[tuple[int, str]]:
        from orchestrator.engine.probes import run_probe

        image = self._probe_image() if callable(self._probe_image) else self._probe_image
        result = run_probe(self.instance, ["ps", "-eo", "uid=,args="], image=image, pid=self.container, model=self.container)
        if not result.ok:
            raise LabsError(f"listing the processes of {self.container.name} failed: {result.output.strip()[-300:]}")
        mine = []
        for line in result.stdout.splitlines():
            uid, _, args = line.strip().partition(" ")
            if uid.isdigit() and not args.strip().startswith("ps -eo"):
                mine.append((int(uid), args.strip()))
        return mine

    def remove(self) -> None:
        from docker.errors import NotFound

        with contextlib.suppress(NotFound):
            self.container.remove(force=True, v=True)


def health(container: Container) -> str:
    """The engine's health status of a container: starting, healthy, unhealthy; 'none' when the
    image has no healthcheck; the container's state when it is not running."""
    container.reload()
    state = container.attrs.get("State") or {}
    if state.get("Status") != "running":
        return state.get("Status") or "gone"
    return (state.get("Health") or {}).get("Status") or "none"


def health_log(container: Container) -> list[str]:
    """The engine's last health check results: 'exit N: output' each."""
    container.reload()
    entries = ((container.attrs.get("State") or {}).get("Health") or {}).get("Log") or []
    return [f"exit {e.get('ExitCode')}: {(e.get('Output') or '').strip()[:200]}" for e in entries]


# --------------------------------------------------------------------------- cleanup, by label


def remove_built(client: docker.DockerClient, key: str | None, *, only: str | None = None) -> int:
    """Remove the containers and images built for instance ``key`` (every instance when None),
    found by label; ``only``: just that image (and its containers). Returns how many went."""
    from docker.errors import APIError, NotFound

    wanted = [f"{labels.MANAGED}=true", f"{BUILT}=true"] + ([f"{labels.INSTANCE}={key}"] if key else [])
    removed = 0
    images = client.images.list(all=True, filters={"label": wanted})
    ids = {image.id for image in images if only is None or only in image.tags}
    for container in client.containers.list(all=True, filters={"label": wanted}, ignore_removed=True):
        if only is None or container.attrs.get("Image") in ids:
            with contextlib.suppress(NotFound):
                container.remove(force=True, v=True)
                removed += 1
    for image in images:
        if image.id not in ids:
            continue
        with contextlib.suppress(NotFound, APIError):
            client.images.remove(image.id, force=True, noprune=False)
            removed += 1
    return removed


def built_leftovers(client: docker.DockerClient, key: str) -> list[str]:
    """Images still labelled as built for instance ``key``."""
    wanted = [f"{labels.MANAGED}=true", f"{BUILT}=true", f"{labels.INSTANCE}={key}"]
    return [f"image {(image.tags or [image.short_id])[0]}" for image in client.images.list(all=True, filters={"label": wanted})]
