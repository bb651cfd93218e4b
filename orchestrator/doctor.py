"""``labs doctor``: is this machine ready to run labs? One finding per check, each with a fix.

It says which engine is used and why (the docker CLI's context), whether this user may use
its socket, whether the shipped labs' ports are free, and which instances are left over or
half-started; each problem comes with the command that fixes it. It never raises: whatever
goes wrong while diagnosing becomes a finding too.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

MIN_FREE_BYTES = 3 * 1024**3


@dataclass
class Finding:
    check: str
    ok: bool
    detail: str
    fix: str = ""


def diagnose() -> list[Finding]:
    findings: list[Finding] = []
    try:
        _diagnose(findings)
    except Exception as err:  # noqa: BLE001 - doctor reports, it never prints a traceback
        findings.append(Finding("doctor", False, f"diagnosing stopped at an unexpected {type(err).__name__}: {err}", "run `labs doctor --json` and include its output in a bug report"))
    return findings


def _diagnose(findings: list[Finding]) -> None:
    from orchestrator.catalog import missing_search_entries
    from orchestrator.engine import open_engine
    from orchestrator.engine.client import ENGINE_FIX
    from orchestrator.engine.contexts import current_endpoint
    from orchestrator.errors import LabsError

    findings.append(Finding("python", sys.version_info >= (3, 11), sys.version.split()[0], "install Python 3.11 or newer, then `pip install labs` again"))
    cli = shutil.which("docker")
    # Optional: labs drives the engine through the SDK; only a deploy operation that feeds a
    # command's stdin falls back to pyinfra's own docker connector, which runs the CLI.
    findings.append(Finding("docker CLI", True, cli or "not on PATH (optional)", ""))
    missing = missing_search_entries()
    if missing:
        findings.append(Finding("LABS_PATH", False, f"not a folder: {', '.join(missing)}", "fix LABS_PATH (folders that hold lab folders, separated by ':')"))
    try:
        endpoint = current_endpoint()
    except LabsError as err:
        findings.append(Finding("engine", False, err.message, err.fix or ENGINE_FIX))
        return
    findings.append(Finding("context", True, endpoint.describe(), ""))
    socket_finding = _socket(endpoint)
    if socket_finding is not None:
        findings.append(socket_finding)
    try:
        engine = open_engine(timeout=10)
    except LabsError as err:
        findings.append(Finding("engine", False, err.message, err.fix or ENGINE_FIX))
        return
    about = engine.describe()
    remote = " (remote: lab ports are published on that host, reachable by anyone who reaches it)" if endpoint.remote else ""
    findings.append(Finding("engine", True, f"Docker {about['version']} (API {about['api_version']}) at {endpoint.host}{remote}"))
    _disk(findings, about["root"], endpoint.remote)
    guard = engine.egress_guard()
    findings.append(Finding(
        "egress guard", guard.ok, guard.detail,
        "" if guard.ok else "run labs as root on the machine that runs the engine (with iptables installed); until then a lab container can send packets beyond its network",
    ))
    _images(findings, engine)
    if not endpoint.remote:
        _ports(findings, engine)
    _instances(findings, engine)
    _swarm(findings, engine)


def _swarm(findings: list[Finding], engine) -> None:
    """One line about the swarm this engine belongs to (a classroom cluster), if it can be asked."""
    from orchestrator.engine.cluster import swarm_summary
    from orchestrator.errors import LabsError

    client = getattr(engine, "client", None)
    if client is None:
        return
    try:
        ok, detail, fix = swarm_summary(client)
    except LabsError as err:
        ok, detail, fix = False, err.message, err.fix or ""
    findings.append(Finding("swarm", ok, detail, fix))


def _socket(endpoint) -> Finding | None:
    if endpoint.scheme != "unix":
        return None
    path = urlsplit(endpoint.host).path
    if not os.path.exists(path):
        return Finding("socket", False, f"{path} does not exist", "start Docker (Docker Desktop, colima, OrbStack: start the app; Linux: `sudo systemctl start docker`)")
    if not os.access(path, os.R_OK | os.W_OK):
        return Finding("socket", False, f"{path} exists but this user may not use it", "`sudo usermod -aG docker $USER`, then log out and in again (or use rootless Docker)")
    return Finding("socket", True, f"{path} usable by this user")


def _disk(findings: list[Finding], root: str, remote: bool) -> None:
    if remote or not os.path.isdir(root):
        return
    free = shutil.disk_usage(root).free
    findings.append(Finding("disk", free >= MIN_FREE_BYTES, f"{free / 1024**3:.1f} GiB free in {root}", "`labs images prune` removes lab images no lab uses; `docker system prune` frees more"))


def _images(findings: list[Finding], engine) -> None:
    from orchestrator.engine.images import base_of, image_context, image_tag
    from orchestrator.paths import images_dir

    names = sorted(p.name for p in images_dir().iterdir() if (p / "Dockerfile").is_file())
    for base in sorted({base_of(image_context(name)) for name in names}):
        present = engine.has_image(base)
        builder = shutil.which("debootstrap") or os.path.exists("/usr/sbin/debootstrap")
        fix = "" if present else ("it is built on first `labs start` (debootstrap, about 30 s)" if builder else "`labs images load FILE` (a set saved with `labs images save FILE`), or `docker pull " + base + "`")
        findings.append(Finding(f"base image {base}", present or bool(builder), "present" if present else "missing", fix))
    built = [n for n in names if engine.has_image(image_tag(n))]
    findings.append(Finding("lab images", True, f"{len(built)}/{len(names)} built ({', '.join(built) or 'none'})", "" if len(built) == len(names) else "`labs prepare --all` builds the rest now"))


def _ports(findings: list[Finding], engine) -> None:
    """The host ports the shipped labs' default instances publish: free, or held by that very lab."""
    from orchestrator.catalog import Catalog
    from orchestrator.paths import shipped_labs_dir

    labs, _ = Catalog([shipped_labs_dir()]).all()
    taken = []
    for lab in labs:
        for port in (p for service in lab.services.values() for p in service.ports if p.host):
            holder = engine.port_holder(port.host)
            if holder is not None and f"of lab {lab.id} " not in f"{holder} ":
                taken.append((lab.id, port.host, holder))
    if not taken:
        findings.append(Finding("ports", True, "every port the shipped labs publish is free (or theirs)"))
    for lab_id, port, holder in taken:
        findings.append(Finding(f"port {port}", False, f"127.0.0.1:{port} (lab {lab_id}) is held by {holder}", f"stop that, or `labs start {lab_id} --instance NAME` (free ports)"))


def _instances(findings: list[Finding], engine) -> None:
    from orchestrator.engine.instances import DEFAULT_INSTANCE

    problems = [inst for inst in engine.instances() if inst.state in ("incomplete", "degraded") and inst.lab_id != "?"]
    if not problems:
        findings.append(Finding("instances", True, "no leftover or half-started instances"))
    for inst in problems:
        flag = "" if inst.instance == DEFAULT_INSTANCE else f" --instance {inst.instance}"
        what = "incomplete: a start did not finish (interrupted, or still running)" if inst.state == "incomplete" else f"degraded: {', '.join(inst.missing + inst.not_running) or 'its network'} missing or stopped"
        findings.append(Finding(f"instance {inst.key}", False, what, f"`labs stop {inst.lab_id}{flag}` removes it; `labs reset {inst.lab_id}{flag}` rebuilds it"))


def as_dicts(findings: list[Finding]) -> list[dict]:
    return [asdict(f) for f in findings]
