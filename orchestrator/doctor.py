"""``labs doctor``: is this machine ready to run labs? One finding per check, each with a fix."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import asdict, dataclass

MIN_FREE_BYTES = 3 * 1024**3


@dataclass
class Finding:
    check: str
    ok: bool
    detail: str
    fix: str = ""


def diagnose() -> list[Finding]:
    from orchestrator.engine import open_engine
    from orchestrator.engine.client import ENGINE_FIX
    from orchestrator.engine.images import base_of, image_context, image_tag
    from orchestrator.errors import LabsError
    from orchestrator.paths import images_dir

    findings = [Finding("python", sys.version_info >= (3, 11), sys.version.split()[0], "labs needs Python 3.11 or newer")]
    cli = shutil.which("docker")
    # Optional: labs drives the engine through the SDK; only a deploy operation that feeds a
    # command's stdin falls back to pyinfra's own docker connector, which runs the CLI.
    findings.append(Finding("docker CLI", True, cli or "not on PATH (optional)", "" if cli else "only needed by deploy operations that pass _stdin; install the docker client if a lab uses them"))
    try:
        engine = open_engine(timeout=10)
    except LabsError as err:
        findings.append(Finding("engine", False, err.message, ENGINE_FIX))
        return findings
    about = engine.describe()
    findings.append(Finding("engine", True, f"Docker {about['version']} (API {about['api_version']}) at {os.environ.get('DOCKER_HOST', 'the default socket')}"))
    root = about["root"]
    if os.path.isdir(root):
        free = shutil.disk_usage(root).free
        findings.append(Finding("disk", free >= MIN_FREE_BYTES, f"{free / 1024**3:.1f} GiB free in {root}", "free some space: `docker system prune`, or remove old lab images (`docker image prune --filter label=io.labs.managed=true`)"))
    bases = sorted({base_of(image_context(p.name)) for p in images_dir().iterdir() if (p / "Dockerfile").is_file()})
    for base in bases:
        present = engine.has_image(base)
        builder = shutil.which("debootstrap") or os.path.exists("/usr/sbin/debootstrap")
        fix = "" if present else ("it is built automatically on first `labs start` (debootstrap, about 30 s)" if builder else "install debootstrap (root, Debian/Ubuntu: scripts/docker-engine), or `docker load` the image")
        findings.append(Finding(f"base image {base}", present or bool(builder), "present" if present else "missing", fix))
    names = sorted(p.name for p in images_dir().iterdir() if (p / "Dockerfile").is_file())
    built = [n for n in names if engine.has_image(image_tag(n))]
    findings.append(Finding("lab images", True, f"{len(built)}/{len(names)} built ({', '.join(built) or 'none'})", "" if len(built) == len(names) else "the rest build on first use"))
    return findings


def as_dicts(findings: list[Finding]) -> list[dict]:
    return [asdict(f) for f in findings]
