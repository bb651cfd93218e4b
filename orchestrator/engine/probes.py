"""Trusted probes: tools run from pristine images, and a container compared with its image.

A check must not trust anything the learner can change, and the learner is root in every lab
container. So a probe is a FRESH container from a PRISTINE image (the service's original image,
or the shipped ``probe`` image of client tools), labelled with the instance
(``io.labs.probe=true``), hardened like lab containers, given the learner's files by archive
copy or attached to a service's network or pid namespace, run with a deadline and removed
afterwards. ``integrity`` compares a container with its image through the engine's filesystem
diff and a created-never-started copy of the image, so shims, replaced binaries, ``.pth`` hooks
and edited entrypoints are seen without running anything in the learner's container.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orchestrator.engine import archive, labels
from orchestrator.engine.client import DEADLINE_EXIT
from orchestrator.errors import LabsError

if TYPE_CHECKING:
    from docker.models.containers import Container

    from orchestrator.engine.instances import LabInstance

PROBE_IMAGE = "probe"  # images/probe: the shipped client tools
_KILL_GRACE = 5.0  # seconds past the deadline the engine gets to answer a wait


@dataclass
class ProbeResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def timed_out(self) -> bool:
        return self.exit_code == DEADLINE_EXIT


def probe_labels(instance: LabInstance) -> dict[str, str]:
    return {**labels.managed(), labels.LAB: instance.lab_id, labels.INSTANCE: instance.key, labels.PROBE: "true"}


def _client(instance: LabInstance, near: Container | None = None):
    """The engine to create a probe with: the one ``near`` (the container it joins, or looks
    at) was found through — on a swarm, the engine of that container's node, since a namespace
    or an archive copy never crosses nodes — else the instance's."""
    if near is not None:
        return near.client
    if not instance.containers:
        raise LabsError(f"lab {instance.key} has no containers to probe", f"start it again (`labs start {instance.lab_id}`)")
    return next(iter(instance.containers.values())).client


def _hardening(model: Container | None) -> dict:
    """Create options that confine a probe like a lab container: every capability dropped but
    the ones ``model`` (the service it looks at) keeps — joining a pid namespace needs no more
    than its processes hold — no new privileges, and the default limits."""
    from orchestrator.spec import Limits

    limits = Limits()
    caps = list(((model.attrs.get("HostConfig") or {}).get("CapAdd") or []) if model is not None else [])
    return {
        "cap_drop": ["ALL"],
        "cap_add": caps or None,
        "security_opt": ["no-new-privileges"],
        "privileged": False,
        "mem_limit": limits.memory_bytes,
        "memswap_limit": limits.memory_bytes,
        "nano_cpus": int(limits.cpus * 1e9),
        "pids_limit": limits.pids,
    }


def image_of(container: Container) -> str:
    """The id of the image a container was created from (what it was before the learner came)."""
    return container.attrs["Image"]


def _remove(container: Container) -> None:
    from docker.errors import NotFound

    with contextlib.suppress(NotFound):
        container.remove(force=True, v=True)


def service_hosts(client, network_id: str) -> dict[str, str]:
    """Each service name on the instance's network -> the address the engine gives it there
    now, read through ``client`` (the engine the probe is created on).

    A probe on the lab network is given these as host entries, so that it finds the services
    without asking the engine's embedded DNS server: that server lives in the engine process
    and, on a busy machine (a restart of every service, several labs checked at once), can
    answer "temporary failure", and an engine that leaves a swarm forgets every container's
    name until it restarts (Docker 20.10) — a check must not fail a correct fix for that. The addresses
    come from the engine, which the learner cannot change; a name held by two containers (or
    one not on this engine, as on another node of a swarm) is left to DNS."""
    from docker.errors import APIError, NotFound

    seen: dict[str, set[str]] = {}
    try:
        attached = (client.api.inspect_network(network_id).get("Containers") or {}).keys()
    except (APIError, NotFound):
        return {}
    for container_id in attached:
        try:
            networks = (client.api.inspect_container(container_id).get("NetworkSettings") or {}).get("Networks") or {}
        except (APIError, NotFound):
            continue  # removed while we looked
        for endpoint in networks.values():
            if endpoint.get("NetworkID") != network_id or not endpoint.get("IPAddress"):
                continue
            for alias in endpoint.get("Aliases") or []:
                if alias and not container_id.startswith(alias):  # the engine's short-id alias is no name
                    seen.setdefault(alias, set()).add(endpoint["IPAddress"])
    return {alias: next(iter(ips)) for alias, ips in seen.items() if len(ips) == 1}


def run_probe(
    instance: LabInstance,
    argv: list[str],
    *,
    image: str,
    join: Container | None = None,
    pid: Container | None = None,
    copy: list[tuple[Container, str, str]] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 30,
    model: Container | None = None,
) -> ProbeResult:
    """Run ``argv`` in a fresh container of ``image`` (a tag or image id) and remove it.

    ``join``: share that container's network namespace (else the probe is a client on the
    instance's network); ``pid``: share that container's pid namespace; ``copy``: (source
    container, source path, probe path) copied in through the engine before the start;
    ``model``: the container whose capabilities the probe keeps (default: ``join`` or ``pid``).
    Past ``timeout`` seconds the probe is killed and the exit code is 124."""
    import requests

    if not argv:
        raise LabsError("a probe needs a command", "pass argv, e.g. ['nginx', '-t']")
    client = _client(instance, join or pid or (copy[0][0] if copy else None) or model)
    options = _hardening(model or join or pid)
    if join is not None:
        options["network_mode"] = f"container:{join.id}"
    elif instance.network is not None:
        options["network"] = instance.network.id
        options["extra_hosts"] = service_hosts(client, instance.network.id) or None
    else:
        options["network_mode"] = "none"
    if pid is not None:
        options["pid_mode"] = f"container:{pid.id}"
    probe = client.containers.create(
        image,
        entrypoint=[argv[0]],
        command=list(argv[1:]),
        environment=env or {},
        labels=probe_labels(instance),
        name=f"{instance.key.replace('.', '-')}-probe-{secrets.token_hex(4)}",
        detach=True,
        **options,
    )
    try:
        for source, source_path, dest_path in copy or []:
            if not archive.copy_tree(source, source_path, probe, dest_path):
                raise LabsError(f"cannot copy {source_path} from {source.name} into a probe: it does not exist")
        probe.start()
        try:
            status = probe.wait(timeout=timeout)
            code = int(status.get("StatusCode", -1))
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            with contextlib.suppress(Exception):
                probe.kill()
            code = DEADLINE_EXIT
        stdout = probe.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        stderr = probe.logs(stdout=False, stderr=True).decode("utf-8", "replace")
        if code == DEADLINE_EXIT:
            stderr += f"\n(labs: probe killed after {timeout:g} s)"
        return ProbeResult(code, stdout, stderr)
    finally:
        _remove(probe)


@contextlib.contextmanager
def pristine(instance: LabInstance, container: Container) -> Iterator[Container]:
    """A created, never started container of ``container``'s original image: the truth to
    compare with. Removed on exit."""
    copy = _client(instance, container).containers.create(
        image_of(container),
        entrypoint=["true"],
        command=[],
        labels=probe_labels(instance),
        name=f"{instance.key.replace('.', '-')}-pristine-{secrets.token_hex(4)}",
        network_mode="none",
    )
    try:
        yield copy
    finally:
        _remove(copy)


# --------------------------------------------------------------------------- what changed


_DIFF_KINDS = {0: "C", 1: "A", 2: "D"}


def changed_paths(container: Container) -> dict[str, str]:
    """The engine's filesystem diff against the image: path -> 'A' (added), 'C' (changed), 'D' (deleted)."""
    return {entry["Path"]: _DIFF_KINDS.get(entry["Kind"], "?") for entry in container.diff() or []}


DEFAULT_INTEGRITY_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc/ld.so.preload", "/etc/ld.so.conf", "/etc/ld.so.conf.d")
_PROBLEM_LIMIT = 12


def _under(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def integrity_roots(container: Container, paths: list[str] | None = None, also: list[str] | None = None) -> tuple[list[str], bool]:
    """The folders and files ``integrity`` looks at, and whether python's import hooks count
    (site-packages, dist-packages, .pth files anywhere): the default set is the binaries and
    libraries, every folder on the container's PATH, and the files its entrypoint names;
    ``paths`` replaces it, ``also`` adds to it."""
    extra = [posixpath.normpath(p) for p in also or []]
    if paths is not None:
        return [posixpath.normpath(p) for p in paths] + extra, False
    config = container.attrs.get("Config") or {}
    roots = list(DEFAULT_INTEGRITY_PATHS)
    for item in config.get("Env") or []:
        if item.startswith("PATH="):
            roots += [p for p in item[5:].split(":") if p.startswith("/")]
    roots += [arg for arg in (config.get("Entrypoint") or []) + (config.get("Cmd") or []) if isinstance(arg, str) and arg.startswith("/")]
    return list(dict.fromkeys([*(posixpath.normpath(r) for r in roots), *extra])), True


def _python_hook(path: str) -> bool:
    return path.endswith(".pth") or "/site-packages/" in path or "/dist-packages/" in path


def integrity(instance: LabInstance, container: Container, paths: list[str] | None = None, also: list[str] | None = None) -> list[str]:
    """Where ``container`` differs from its pristine image under ``paths`` (default: see
    ``integrity_roots``; ``also``: more paths on top of it): each problem is a sentence naming
    the path; [] when intact. Content, mode, owner and link target count; a file only touched
    (same content) does not."""
    roots, hooks = integrity_roots(container, paths, also)
    relevant = {p: k for p, k in sorted(changed_paths(container).items()) if _under(p, roots) or (hooks and _python_hook(p))}
    if not relevant:
        return []
    problems: list[str] = []
    with pristine(instance, container) as truth:
        for path, kind in relevant.items():
            if len(problems) >= _PROBLEM_LIMIT:
                problems.append(f"(and more changes under {', '.join(r for r in roots if any(_under(p, [r]) for p in relevant))})")
                break
            problem = _compare(container, truth, path, kind)
            if problem:
                problems.append(problem)
    return problems


def _compare(container: Container, truth: Container, path: str, kind: str) -> str | None:
    if kind == "D":
        return f"{path} was removed (the image has it)"
    now = archive.read_file(container, path, follow=False)
    if now is None:
        return None  # gone since the diff was taken; a later diff says so
    if now.kind == "dir":
        return None  # a folder itself only records that something inside it changed
    was = archive.read_file(truth, path, follow=False)
    if was is None or kind == "A":
        what = {"symlink": f"a symlink to {now.link_target}", "file": "a file"}.get(now.kind, "an entry")
        return f"{path} was added ({what}; the image has none there)"
    differences = []
    if now.kind != was.kind:
        differences.append(f"is a {now.kind} where the image has a {was.kind}")
    if now.content != was.content:
        differences.append("its content differs from the image's")
    if now.link_target != was.link_target:
        differences.append(f"links to {now.link_target} instead of {was.link_target}")
    if now.mode != was.mode:
        differences.append(f"mode {now.mode:o} instead of {was.mode:o}")
    if (now.uid, now.gid) != (was.uid, was.gid):
        differences.append(f"owner {now.uid}:{now.gid} instead of {was.uid}:{was.gid}")
    return f"{path} was changed: {', '.join(differences)}" if differences else None


# --------------------------------------------------------------------------- ACLs, from a pristine probe

# Run by python3 in the probe image, in the service's pid namespace: /proc/1/root is the
# service's filesystem. Symlinks in the path are resolved inside that root, never the probe's.
_ACL_SCRIPT = r"""
import json, os, sys
BASE = "/proc/1/root"
NAMES = ("system.posix_acl_access", "system.posix_acl_default")
def scoped(path):
    parts, done, hops = [p for p in path.split("/") if p], [], 0
    while parts:
        part = parts.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            done = done[:-1]
            continue
        full = BASE + "/" + "/".join(done + [part])
        if parts and os.path.islink(full):
            hops += 1
            if hops > 40:
                raise SystemExit("too many symlinks: " + path)
            target = os.readlink(full)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p] + parts
        else:
            done.append(part)
    return "/" + "/".join(done)
def xattrs(real):
    found = {}
    for name in NAMES:
        try:
            found[name] = os.getxattr(BASE + real, name, follow_symlinks=False).hex()
        except OSError:
            pass
    return found
root, recursive = scoped(sys.argv[1]), sys.argv[2] == "1"
out = {}
paths = [root]
if recursive and os.path.isdir(BASE + root) and not os.path.islink(BASE + root):
    for folder, dirs, files in os.walk(BASE + root):
        rel = folder[len(BASE):] or "/"
        paths += [os.path.join(rel, n) for n in dirs + files]
for real in paths:
    found = xattrs(real)
    if found:
        out[os.path.normpath(real)] = found
print(json.dumps(out))
"""


def read_acls(instance: LabInstance, container: Container, probe_image: str, path: str, *, recursive: bool) -> dict[str, list[str]]:
    """POSIX ACL entries of ``path`` (and, ``recursive``, everything under it) in a running
    container, read by a pristine probe in its pid namespace: path -> entries (only entries with an ACL)."""
    container.reload()
    if container.status != "running":
        raise LabsError(f"cannot read the ACLs of {path} in {container.name}: the container is not running", "start the lab again (`labs start`)")
    result = run_probe(instance, ["python3", "-c", _ACL_SCRIPT, path, "1" if recursive else "0"], image=probe_image, pid=container, timeout=60)
    if not result.ok:
        raise LabsError(f"reading the ACLs of {path} in {container.name} failed: {result.stderr.strip()[-300:]}")
    users, groups = archive.id_names(container)
    found: dict[str, list[str]] = {}
    for real, attrs in json.loads(result.stdout or "{}").items():
        entries: list[str] = []
        for name, prefix in archive.ACL_XATTRS.items():
            if name in attrs:
                entries += archive.decode_acl(bytes.fromhex(attrs[name]), users, groups, prefix)
        found[real] = entries
    return found


class AclLoader:
    """Loads ACLs on first use: one probe per file read, or one for a whole walked tree."""

    def __init__(self, instance: LabInstance, container: Container, probe_image, root: str | None = None):
        self.instance, self.container, self.probe_image, self.root = instance, container, probe_image, root
        self.cache: dict[str, list[str]] | None = None

    def __call__(self, path: str) -> list[str]:
        image = self.probe_image() if callable(self.probe_image) else self.probe_image
        if self.root is None:  # one path: the probe answers for it (under its fully resolved name)
            return next(iter(read_acls(self.instance, self.container, image, path, recursive=False).values()), [])
        if self.cache is None:
            self.cache = read_acls(self.instance, self.container, image, self.root, recursive=True)
        return self.cache.get(posixpath.normpath(path), [])
