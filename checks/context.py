"""``LabContext``: what a lab's check suite sees of its running instance — the trusted probes.

The learner is root in every lab container, so a check never trusts what runs there. The
``lab`` fixture offers probes that do not depend on anything the learner can change:

- ``read_file`` / ``walk``: files read through the engine's archive API (nothing runs in the
  container): content, mode, owner, link target, POSIX ACLs;
- ``changed_paths`` / ``integrity``: the container compared with its pristine image;
- ``probe``: a command run in a FRESH container from a PRISTINE image (the shipped ``probe``
  image of client tools, or a lab image), with the learner's files copied in or attached to a
  service's network or pid namespace;
- ``http``: a real request from the host through a published port;
- ``restart_all``: every service restarted (nothing hand-started survives);
- ``logs``, ``trace_id``: proof that a request took the real path;
- ``values`` / ``nonce``: per-instance random values.

``host(service)`` (a testinfra host inside the container) remains for what a learner cannot
fake; prefer the probes above. Every engine call goes through ``orchestrator.engine``.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
from pathlib import Path

from checks.http import HttpResult, http_request
from orchestrator.engine.archive import FileInfo
from orchestrator.engine.probes import ProbeResult


class LabContext:
    def __init__(self, client, instance, lab=None, backend: str = "sdk"):
        self.client = client
        self.instance = instance
        self.lab = lab  # the orchestrator.spec.Lab when the folder is known
        self.backend = backend
        self.progress = None  # set by the check runner: a callback for a live line while a check waits

    def wait_for(self, probe, *, what: str, seconds: float, every: float = 1.0):
        """Call ``probe()`` until it returns something truthy or ``seconds`` pass; returns its
        last answer. While it waits, the learner sees a live line ("what… 23 s of 75 s")."""
        from checks import poll

        def say(elapsed: float):
            if self.progress is not None:
                self.progress(f"{what}… {elapsed:.0f} s of {seconds:.0f} s")

        return poll(probe, bool, seconds, every, say)

    @property
    def values(self) -> dict[str, str]:
        return self.instance.values

    @property
    def nonce(self) -> str:
        return self.instance.values["nonce"]

    @property
    def lab_dir(self) -> Path:
        return Path(self.instance.folder)

    def container(self, service: str | None = None):
        return self.instance.container(service)

    @functools.cache
    def host(self, service: str | None = None, deadline: float | None = None):
        """A testinfra ``Host`` for a service's container (the main service by default).

        Each command is killed after ``deadline`` seconds (30 by default)."""
        import testinfra

        container = self.container(service)
        if self.backend == "cli":
            return testinfra.get_host(f"docker://{container.name}")
        from testinfra.host import Host

        from checks.backend import DockerSDKBackend

        backend = DockerSDKBackend(container) if deadline is None else DockerSDKBackend(container, deadline=deadline)
        host = Host(backend)
        backend.set_host(host)
        return host

    def port(self, service: str, container_port: int) -> int:
        port = self.instance.published_port(service, container_port)
        if port is None:
            raise AssertionError(f"service {service} publishes no port {container_port} on 127.0.0.1 (is its container running?)")
        return port

    def http(
        self,
        service: str,
        container_port: int,
        path: str = "/",
        *,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: bytes | str | None = None,
        timeout: float = 5,
    ) -> HttpResult:
        """A real request from the host to ``path`` on the port ``service`` publishes for
        ``container_port`` (127.0.0.1, or a remote engine's host), as a client outside the lab."""
        host = getattr(self.instance, "publish_host", "127.0.0.1")
        return http_request(self.port(service, container_port), path, method=method, headers=headers, body=body, timeout=timeout, host=host)

    def _readiness(self, service: str):
        from orchestrator.spec import Readiness

        return self.lab.services[service].readiness if self.lab and service in self.lab.services else Readiness()

    def restart(self, service: str | None = None, timeout: int = 10) -> None:
        """Restart one service's container and wait until its environment is ready again.
        To prove persistence prefer ``restart_all``: a process started by hand in another
        service survives this."""
        from orchestrator.engine.readiness import restart_all_ready

        service = service or self.instance.main
        restart_all_ready([(service, self.container(service), self._readiness(service))], stop_timeout=timeout)

    def restart_all(self, timeout: int = 10) -> None:
        """Restart EVERY service of the instance at once and wait until all are ready again."""
        from orchestrator.engine.readiness import restart_all_ready

        restart_all_ready([(s, c, self._readiness(s)) for s, c in self.instance.containers.items()], stop_timeout=timeout)

    # ----------------------------------------------------------------------- files, through the engine

    def _acl_loader(self, service: str | None, root: str | None = None):
        from orchestrator.engine.probes import AclLoader

        return AclLoader(self.instance, self.container(service), lambda: self._image("probe"), root)

    def read_file(self, service: str | None, path: str, *, follow: bool = True) -> FileInfo | None:
        """``path`` in the service's container, read through the engine's archive API (nothing
        runs in the container); None if absent. ``follow`` resolves symlinks inside the
        container's filesystem, like ``stat -L``. ``.acl`` is read on first use."""
        from orchestrator.engine.archive import read_file

        return read_file(self.container(service), path, follow=follow, acl_loader=self._acl_loader(service))

    def walk(self, service: str | None, root: str) -> list[FileInfo]:
        """Every entry under ``root`` (itself first) in one archive read; files up to 1 MiB
        carry their content. ACLs of the whole tree are read in one probe on first use."""
        from orchestrator.engine.archive import walk

        return walk(self.container(service), root, acl_loader=self._acl_loader(service, root))

    def changed_paths(self, service: str | None = None) -> dict[str, str]:
        """The engine's filesystem diff of the service's container against its image:
        path -> 'A' (added), 'C' (changed) or 'D' (deleted)."""
        from orchestrator.engine.probes import changed_paths

        return changed_paths(self.container(service))

    def integrity(self, service: str | None = None, paths: list[str] | None = None, *, also: list[str] | None = None) -> list[str]:
        """Where the service's container differs from its pristine image under ``paths``
        (default: binaries and libraries, PATH folders, site-packages and .pth files, the
        entrypoint; ``also`` adds paths to that default, e.g. the app's code): one sentence
        per problem; [] when intact."""
        from orchestrator.engine.probes import integrity

        return integrity(self.instance, self.container(service), paths, also)

    # ----------------------------------------------------------------------- probes from pristine images

    @functools.cache
    def _image(self, name: str | None, service: str | None = None) -> str:
        """The pristine image to probe with: a service's original image (by default the one
        ``service`` was created from), or a lab image name ('probe': the shipped tools)."""
        from orchestrator.engine.client import engine_errors
        from orchestrator.engine.images import ensure_image
        from orchestrator.engine.probes import image_of

        if name is None:
            return image_of(self.container(service))
        if self.lab is not None:
            for svc_name, svc in self.lab.services.items():
                if svc.image == name and svc_name in self.instance.containers:
                    return image_of(self.instance.containers[svc_name])
        with engine_errors(f"preparing the {name} probe image"):
            return ensure_image(self.client, name, lab_folder=self.lab_dir if self.lab_dir.is_dir() else None)

    def probe(
        self,
        argv: list[str],
        *,
        image: str | None = None,
        service: str | None = None,
        join: str | None = None,
        pid: bool = False,
        copy: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> ProbeResult:
        """Run ``argv`` in a FRESH container from a PRISTINE image and remove it.

        ``image``: a lab image name ('probe' = the shipped client tools: curl, openssl, psql,
        redis-cli, ssh, dig, getfacl, stat, ps, ss, python3, nc); default: the original image
        of ``service`` (or of the main service). ``join='svc'``: share that service's network
        namespace (its 127.0.0.1); ``pid=True``: also its pid namespace. Without ``join`` the
        probe is a separate client on the lab's network (services by name). ``copy``:
        ``{"/probe/etc/nginx": "proxy:/etc/nginx"}`` copies from a service's container into
        the probe before it runs. Past ``timeout`` seconds it is killed (exit code 124)."""
        from orchestrator.engine.probes import run_probe

        target = self.container(join) if join else None
        pid_of = self.container(join or service) if pid else None
        copies = []
        for dest, source in (copy or {}).items():
            svc, sep, src_path = source.partition(":")
            if not sep or not src_path.startswith("/"):
                raise ValueError(f"copy source {source!r}: write it as 'service:/absolute/path'")
            copies.append((self.container(svc), src_path, dest))
        return run_probe(
            self.instance,
            list(argv),
            image=self._image(image, service),
            join=target,
            pid=pid_of,
            copy=copies,
            env=env,
            timeout=timeout,
            model=target or pid_of or self.container(service),
        )

    # ----------------------------------------------------------------------- tracing the real path

    def logs(self, service: str | None = None, since: float | None = None) -> str:
        """The engine's log of the service (what its processes printed; not a file the learner
        can edit), from ``since`` (a time.time() value) if given."""
        return self.instance.logs(service, since=since).decode("utf-8", "replace")

    @staticmethod
    def trace_id() -> str:
        """A fresh random token to send through the system and require back (in an answer or
        the real backend's log): copies, caches and precomputed answers cannot know it."""
        return f"labs-trace-{secrets.token_hex(8)}"

    # ----------------------------------------------------------------------- images the learner builds

    def build_image(self, service: str | None, path: str, *, bases: dict[str, str], dockerfile: str = "Dockerfile"):
        """Build the folder ``path`` of a service (the learner's workspace) as an image, through
        the engine: the context is read by the archive API, the build has NO network, and every
        FROM must be one of ``bases`` (``{"labs/appbase:bookworm": "appbase"}``: the alias the
        learner writes -> the lab image it names). Returns a ``BuiltImage`` (its size, USER,
        HEALTHCHECK as the engine reports them); a failed build raises ``BuildFailed`` quoting
        its last lines. The image carries the instance's labels: ``labs stop`` removes it."""
        from orchestrator.engine import builds

        context = builds.context_from_container(self.container(service), path)
        aliases = {alias: self._image(name) for alias, name in bases.items()}
        where = f"{path.rstrip('/')}/{dockerfile} in {service or self.instance.main}"
        return builds.build_image(self.instance, context, bases=aliases, dockerfile=dockerfile, where=where)

    def run_image(self, image, *, alias: str = "candidate", env: dict[str, str] | None = None):
        """Start a ``BuiltImage`` on the lab's network (reach it as ``http://ALIAS:PORT`` from
        ``lab.probe``), hardened like lab containers; a ``RunningImage``: ``.health()``,
        ``.health_log()``, ``.processes()`` (uid, args) seen by a pristine probe in its pid
        namespace, ``.restart()``, ``.logs()``, ``.remove()``."""
        from orchestrator.engine import builds

        container = builds.run_built(self.instance, image, alias=alias, env=env)
        return builds.RunningImage(self.instance, container, alias, lambda: self._image("probe"))

    def image_size(self, name: str) -> int:
        """The size in bytes of a lab image (e.g. the base a learner builds on)."""
        from orchestrator.engine.builds import image_size

        return image_size(self.instance, self._image(name))

    def remove_built(self) -> int:
        """Remove every image and container built for this instance (by label)."""
        from orchestrator.engine.builds import remove_built

        return remove_built(self.client, self.instance.key)


class FreshService:
    """A fresh copy of a lab service made by ``LabContext.fresh_service``: ``name`` reaches it on
    the lab's network (from a probe: ``http://NAME/``, ``ssh root@NAME``)."""

    def __init__(self, container, readiness):
        self.container, self._readiness = container, readiness

    @property
    def name(self) -> str:
        return self.container.name

    def restart(self, timeout: int = 10) -> None:
        """Restart it (SIGTERM, SIGKILL after ``timeout`` s) and wait until it is ready again."""
        from orchestrator.engine.readiness import restart_all_ready

        restart_all_ready([(self.name, self.container, self._readiness)], stop_timeout=timeout)

    def read_file(self, path: str, *, follow: bool = True) -> FileInfo | None:
        """``path`` in it, read through the engine's archive API (nothing runs in it)."""
        from orchestrator.engine.archive import read_file

        return read_file(self.container, path, follow=follow)

    def logs(self) -> str:
        return self.container.logs().decode("utf-8", "replace")


def _fresh_service(self: LabContext, service: str, *, files: dict[str, tuple[bytes, int]] | None = None):
    """A NEW container of ``service`` from its pristine image, confined like the service, on the
    lab's network under a name of its own, with ``files`` ({path: (content, mode)}) planted
    before it starts; ready when yielded (a ``FreshService``), removed afterwards (and by
    ``labs stop``). For build labs whose check proves the learner's deploy builds the service
    from nothing, not the copy they prepared by hand::

        with lab.fresh_service("target", files={"/root/.ssh/authorized_keys": (key, 0o600)}) as target:
            lab.probe(["ssh", f"root@{target.name}", "true"], image="probe")
    """
    from orchestrator.engine.fresh import fresh_copy

    with fresh_copy(self.instance, self.container(service), self._readiness(service), files=files) as container:
        yield FreshService(container, self._readiness(service))


LabContext.fresh_service = contextlib.contextmanager(_fresh_service)
