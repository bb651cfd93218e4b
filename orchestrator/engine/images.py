"""Service images: built once from images/<name>/, tagged by a hash of their build context.

An unchanged context is never rebuilt; any change to a file in it gives a new
tag and a rebuild. The Dockerfiles are the ordinary kind (``FROM
debian:bookworm``); where that base is missing and no registry answers, it is
built locally with debootstrap and imported under that exact name, so the same
Dockerfiles work online and in an air-gapped classroom.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.engine import labels
from orchestrator.errors import BuildFailed, NotFound
from orchestrator.paths import images_dir

if TYPE_CHECKING:
    import docker

Progress = Callable[[str], None]
DEBIAN_MIRROR = os.environ.get("LABS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
_DEBOOTSTRAP_SUITES = {"debian:bookworm": "bookworm", "debian:bookworm-slim": "bookworm"}


def _quiet(_: str) -> None:
    pass


def image_context(name: str, lab_folder: Path | None = None) -> Path:
    """The build context of image ``name``: the lab's own ``images/<name>`` first, then the shared one."""
    candidates = ([lab_folder / "images" / name] if lab_folder else []) + [images_dir() / name]
    for context in candidates:
        if (context / "Dockerfile").is_file():
            return context
    available = sorted(p.name for p in images_dir().iterdir() if (p / "Dockerfile").is_file())
    raise NotFound(f"no image {name!r} in {' or '.join(str(c.parent) for c in candidates)}", f"use one of: {', '.join(available)}, or add images/{name}/Dockerfile to the lab folder")


def _bytecode(rel: str) -> bool:
    return rel.endswith(".pyc") or "__pycache__" in rel.split("/")


def dockerignore_patterns(context: Path) -> list[str]:
    """The context's .dockerignore patterns, read exactly as the Docker SDK reads them for a build."""
    ignore = context / ".dockerignore"
    if not ignore.is_file():
        return []
    return [line for line in (raw.strip() for raw in ignore.read_text().splitlines()) if line and line[0] != "#"]


def context_files(context: Path) -> list[str]:
    """The files a build of ``context`` sends to the engine (relative paths), by the SDK's own
    .dockerignore matcher: exceptions (``!app.py``), ``**`` and directory patterns behave as in
    ``docker build``. Python bytecode never counts."""
    from docker.utils.build import exclude_paths

    included = exclude_paths(str(context), dockerignore_patterns(context))
    return sorted(rel for rel in included if (context / rel).is_file() and not _bytecode(rel))


def context_hash(context: Path) -> str:
    """A hash of every file's path, executable bit and content that a build of ``context`` sees.

    Files the build would not see (.dockerignore, by Docker's own rules) and Python bytecode do
    not count, so running a lab's app locally never changes its image tag.
    """
    digest = hashlib.sha256()
    for rel in context_files(context):
        path = context / rel
        digest.update(rel.encode() + b"\0")
        digest.update(b"x" if os.access(path, os.X_OK) else b"-")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:12]


def image_tag(name: str, lab_folder: Path | None = None) -> str:
    return f"labs/{name}:{context_hash(image_context(name, lab_folder))}"


def base_of(context: Path) -> str:
    match = re.search(r"^\s*FROM\s+(\S+)", (context / "Dockerfile").read_text(), re.MULTILINE | re.IGNORECASE)
    if not match:
        raise BuildFailed(f"{context / 'Dockerfile'}: no FROM line", "start the Dockerfile with FROM debian:bookworm")
    return match.group(1)


def _has_image(client: docker.DockerClient, ref: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(ref)
        return True
    except ImageNotFound:
        return False


def ensure_base_image(client: docker.DockerClient, ref: str, progress: Progress = _quiet) -> None:
    """Make ``ref`` present locally: pull it, or else build it offline with debootstrap."""
    from docker.errors import APIError

    if _has_image(client, ref):
        return
    # LABS_NO_PULL=1: never ask a registry (an air-gapped room, or a test suite that must not
    # send a packet off the machine): a missing base is built offline straight away.
    pulling = os.environ.get("LABS_NO_PULL", "") in ("", "0")
    if pulling:
        progress(f"pulling base image {ref}")
        try:
            repository, _, tag = ref.partition(":")
            client.images.pull(repository, tag=tag or "latest")
            return
        except APIError:
            pass  # no registry here: build it ourselves below
    suite = _DEBOOTSTRAP_SUITES.get(ref)
    if suite is None:
        why = "cannot be pulled" if pulling else "LABS_NO_PULL forbids pulling it"
        raise BuildFailed(f"base image {ref} is not present and {why}", f"load it with `docker load`, or base the image on one of: {', '.join(_DEBOOTSTRAP_SUITES)}")
    build_debian_base(client, ref, suite, progress)


def build_debian_base(client: docker.DockerClient, ref: str, suite: str, progress: Progress = _quiet) -> None:
    """debootstrap a minimal Debian ``suite`` and import it as ``ref``."""
    debootstrap = shutil.which("debootstrap") or ("/usr/sbin/debootstrap" if Path("/usr/sbin/debootstrap").exists() else None)
    if debootstrap is None or os.geteuid() != 0:
        raise BuildFailed(
            f"base image {ref} is missing, no registry answers, and it cannot be built here (needs root and debootstrap)",
            "load a saved image set (`labs images load FILE`, made with `labs images save FILE` where images build), or install debootstrap and run as root",
        )
    with tempfile.TemporaryDirectory(prefix="labs-base-") as tmp:
        root = Path(tmp) / "rootfs"
        progress(f"building base image {ref} offline with debootstrap ({suite}, about 30 s)")
        run = subprocess.run(
            [debootstrap, "--variant=minbase", suite, str(root), DEBIAN_MIRROR],
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            tail = "\n".join((run.stdout + run.stderr).splitlines()[-8:])
            raise BuildFailed(f"debootstrap of {suite} failed:\n{tail}", f"check that {DEBIAN_MIRROR} is reachable (LABS_DEBIAN_MIRROR sets another mirror)")
        for leftover in (root / "var/cache/apt/archives").glob("*.deb"):
            leftover.unlink()
        progress(f"importing base image {ref}")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        try:
            repository, _, tag = ref.partition(":")
            client.api.import_image_from_stream(tar.stdout, repository=repository, tag=tag, changes=['CMD ["bash"]'])
        finally:
            tar.stdout.close()
            tar.wait()
    if not _has_image(client, ref):
        raise BuildFailed(f"importing the base image {ref} failed", "run `labs doctor`; the engine's log may say more")


class _BuildStatus:
    """Progress of one build: the current step, its elapsed time and its last output lines
    (at most a few updates a second); every line goes to ``progress.verbose`` when it has one."""

    def __init__(self, name: str, progress: Progress):
        import time

        self.name, self.progress, self.clock = name, progress, time.monotonic
        self.step, self.started, self.shown_at = "", self.clock(), 0.0
        self.tail: list[str] = []
        self.verbose = getattr(progress, "verbose", None)

    def line(self, line: str) -> None:
        if self.verbose is not None:
            self.verbose(line)
        if line.startswith("Step "):
            self.step, self.started, self.tail = line, self.clock(), []
        elif not line.startswith(" ---> "):
            self.tail = (self.tail + [line[:160]])[-3:]
        now = self.clock()
        if line.startswith("Step ") or now - self.shown_at > 0.3:
            self.shown_at = now
            lines = "".join(f"\n    {text}" for text in self.tail)
            self.progress(f"building {self.name}: {self.step} ({now - self.started:.0f} s){lines}")


def ensure_image(client: docker.DockerClient, name: str, progress: Progress = _quiet, lab_folder: Path | None = None) -> str:
    """Build image ``name`` unless an image of the same context hash exists; return its tag."""
    context = image_context(name, lab_folder)
    tag = f"labs/{name}:{context_hash(context)}"
    if _has_image(client, tag):
        return tag
    ensure_base_image(client, base_of(context), progress)
    progress(f"building image {tag}")
    log: list[str] = []
    status = _BuildStatus(name, progress)
    from docker.errors import APIError

    try:
        stream = client.api.build(
            path=str(context),
            tag=tag,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
            labels={**labels.managed(), labels.CONTEXT: tag.rsplit(":", 1)[1]},
        )
        for chunk in stream:
            if "error" in chunk:
                log.append(chunk["error"])
                tail = "\n".join(line for line in log[-15:] if line.strip())
                raise BuildFailed(f"building image {name} from {context} failed:\n{tail}", "fix the failing step in the Dockerfile; network errors in apt-get are often transient, so retry")
            text = chunk.get("stream", "")
            for line in text.splitlines():
                if line.strip():
                    log.append(line)
                    status.line(line)
    except APIError as err:
        raise BuildFailed(f"building image {name} failed: {err.explanation or err}", "see `labs doctor` (disk space, engine health)") from None
    return tag


def ensure_images(client: docker.DockerClient, names: list[str], progress: Progress = _quiet, lab_folder: Path | None = None) -> dict[str, str]:
    """Tags for each image name, building what is missing."""
    return {name: ensure_image(client, name, progress, lab_folder) for name in dict.fromkeys(names)}


def present_tags(client: docker.DockerClient, refs: list[str]) -> list[str]:
    return [ref for ref in refs if _has_image(client, ref)]


def save_images(client: docker.DockerClient, refs: list[str], path: Path, progress: Progress = _quiet) -> None:
    """Write ``refs`` into one image archive (``docker save`` format: shared layers stored once)."""
    from docker.errors import APIError

    api = client.api
    written = 0
    tmp = path.with_name(path.name + ".part")
    try:
        response = api._get(api._url("/images/get"), params={"names": refs}, stream=True)
        api._raise_for_status(response)
        with open(tmp, "wb") as handle:
            for chunk in response.iter_content(chunk_size=1 << 20):
                handle.write(chunk)
                written += len(chunk)
                progress(f"saving {len(refs)} image(s) to {path}: {written / 1024**2:.0f} MiB")
        tmp.replace(path)
    except APIError as err:
        raise BuildFailed(f"saving images failed: {err.explanation or err}", "see `labs doctor`") from None
    finally:
        tmp.unlink(missing_ok=True)


def load_images(client: docker.DockerClient, path: Path, progress: Progress = _quiet) -> list[str]:
    """Load an image archive (``labs images save``, ``docker save``); returns the tags it held."""
    from docker.errors import APIError

    loaded: list[str] = []
    try:
        with open(path, "rb") as handle:
            for chunk in client.api.load_image(handle, quiet=False):
                text = (chunk.get("stream") or "").strip()
                if "error" in chunk:
                    raise BuildFailed(f"loading {path} failed: {chunk['error']}", "is it an archive written by `labs images save`?")
                if text.startswith("Loaded image: "):
                    loaded.append(text.removeprefix("Loaded image: "))
                    progress(f"loaded {loaded[-1]}")
    except APIError as err:
        raise BuildFailed(f"loading {path} failed: {err.explanation or err}", "is it an archive written by `labs images save`?") from None
    return loaded


def managed_tags(client: docker.DockerClient) -> list[str]:
    """Every tag of an image labs built (label io.labs.managed)."""
    return sorted(tag for image in client.images.list(filters={"label": f"{labels.MANAGED}=true"}) for tag in image.tags)


def images_in_use(client: docker.DockerClient) -> set[str]:
    """Image references of every labs container (running or not), by label."""
    return {c.attrs.get("Config", {}).get("Image", "") for c in client.containers.list(all=True, filters=labels.filters(), ignore_removed=True)}


def remove_tag(client: docker.DockerClient, tag: str) -> bool:
    """Untag ``tag`` (its layers go when no other tag holds them); False if it was gone."""
    from docker.errors import APIError, ImageNotFound

    try:
        client.images.remove(tag, noprune=False)
        return True
    except ImageNotFound:
        return False
    except APIError as err:
        raise BuildFailed(f"removing image {tag} failed: {err.explanation or err}", "a container may still use it: `labs status`") from None
