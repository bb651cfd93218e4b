"""``labs new``: a complete, working example lab to start from.

The template (``orchestrator/templates/new-lab/``) is a small nginx lab with two
faults, a reference solution, and checks that use every helper a suite needs; its
comments teach the format. ``labs validate`` passes it as generated. ``__LAB_ID__``
in any template file becomes the new lab's id.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from orchestrator.errors import UsageError

TEMPLATES = {
    "repair": Path(__file__).resolve().parent / "templates" / "new-lab",
    "build": Path(__file__).resolve().parent / "templates" / "new-build-lab",
}
TEMPLATE = TEMPLATES["repair"]
PLACEHOLDER = "__LAB_ID__"
_SKIP = {"__pycache__", ".pytest_cache"}


def check_lab_id(lab_id: str) -> str:
    from orchestrator.spec import ID_PATTERN

    if not re.match(ID_PATTERN, lab_id) or len(lab_id) > 40:
        raise UsageError(
            f"{lab_id!r} is not a valid lab id",
            "use 1-40 lowercase letters, digits and single dashes, starting with a letter (e.g. disk-full)",
        )
    return lab_id


def template_files(kind: str = "repair") -> list[Path]:
    """The template's files, relative to it."""
    template = TEMPLATES[kind]
    return sorted(
        p.relative_to(template)
        for p in template.rglob("*")
        if p.is_file() and not _SKIP.intersection(p.relative_to(template).parts) and p.suffix != ".pyc"
    )


def new_lab(lab_id: str, base: Path, kind: str = "repair") -> Path:
    """Write ``base/<lab_id>/`` from the template of ``kind`` (repair or build); never overwrites anything."""
    check_lab_id(lab_id)
    if kind not in TEMPLATES:
        raise UsageError(f"--kind {kind!r}: use repair or build", "repair: the learner fixes what break.py broke; build: the learner ships what the ticket asks")
    base = Path(base)
    folder = base / lab_id
    if folder.exists() or folder.is_symlink():
        raise UsageError(f"{folder} already exists: not overwriting it", "choose another id or --dir, or remove that folder first")
    if base.exists() and not base.is_dir():
        raise UsageError(f"--dir {base} is not a folder", "give a folder to create the lab in")
    base.mkdir(parents=True, exist_ok=True)
    # Write into a temporary folder next to the target and rename it at the end,
    # so an interrupted `labs new` never leaves half a lab behind.
    staging = Path(tempfile.mkdtemp(prefix=f".{lab_id}-", dir=base))
    try:
        for relative in template_files(kind):
            source = TEMPLATES[kind] / relative
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source.read_text(encoding="utf-8").replace(PLACEHOLDER, lab_id), encoding="utf-8")
            shutil.copymode(source, target)
        staging.chmod(0o755)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder
