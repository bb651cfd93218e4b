"""Offline classrooms: build every image ahead of class, carry them on a file, prune old ones.

``prepare`` builds the images of the chosen labs (and the shared check images)
so a learner's ``labs start`` builds nothing. ``save`` writes those images and
their base (``debian:bookworm``) into one archive; ``load`` puts them into an
engine that has no registry or mirror at all. ``prune`` removes the tags of
labs images that no known lab (shipped, on LABS_PATH, or ``--labs-dir``) and no
lab container uses any more.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from orchestrator.engine import open_engine
from orchestrator.engine.images import base_of, image_context, image_tag
from orchestrator.paths import images_dir
from orchestrator.spec import Lab

Progress = Callable[[str], None]
# Images the checks run probes from (pristine tools), wherever the shared images hold them.
CHECK_IMAGES = ("probe",)


def _quiet(_: str) -> None:
    pass


def lab_images(labs: list[Lab]) -> dict[str, tuple[str, Path | None]]:
    """tag -> (image name, lab folder it is built from) for every image the labs and their checks use."""
    wanted: dict[str, tuple[str, Path | None]] = {}
    for lab in labs:
        for service in lab.services.values():
            wanted.setdefault(image_tag(service.image, lab.folder), (service.image, lab.folder))
    for name in CHECK_IMAGES:
        if (images_dir() / name / "Dockerfile").is_file():
            wanted.setdefault(image_tag(name), (name, None))
    return wanted


def prepare(labs: list[Lab], progress: Progress = _quiet) -> list[str]:
    """Build every image ``labs`` need (nothing already built is rebuilt); returns their tags."""
    engine = open_engine()
    tags = []
    with engine.errors("building images"):
        wanted = lab_images(labs)
        for number, (tag, (name, folder)) in enumerate(wanted.items(), start=1):
            progress(f"[{number}/{len(wanted)}] {tag}")
            tags.append(engine.ensure_image(name, progress, folder))
    return tags


def save(path: Path, labs: list[Lab], progress: Progress = _quiet) -> list[str]:
    """Build what is missing, then write the images of ``labs`` and their bases into ``path``."""
    wanted = lab_images(labs)
    tags = prepare(labs, progress)
    bases = sorted({base_of(image_context(name, folder)) for name, folder in wanted.values()})
    engine = open_engine()
    with engine.errors(f"saving images to {path}"):
        refs = tags + engine.present_images(bases)
        engine.save_images(refs, path, progress)
    return refs


def load(path: Path, progress: Progress = _quiet) -> list[str]:
    from orchestrator.errors import NotFound

    if not path.is_file():
        raise NotFound(f"no image archive at {path}", "give the file written by `labs images save FILE`")
    engine = open_engine()
    with engine.errors(f"loading images from {path}"):
        return engine.load_images(path, progress)


def prune_candidates(known: list[Lab], present: list[str], in_use: set[str], repository: str | None = None) -> list[str]:
    """Tags of labs images (``labs/NAME:HASH``) that no known lab builds and no lab container uses.
    ``repository`` limits the choice to one repository (``labs/NAME``)."""
    keep = set(lab_images(known)) | in_use
    return [
        tag
        for tag in present
        if tag.startswith("labs/") and tag not in keep and (repository is None or tag.rsplit(":", 1)[0] == repository)
    ]


def prune(known: list[Lab], *, repository: str | None = None, dry_run: bool = False, progress: Progress = _quiet) -> list[str]:
    """Remove the tags ``prune_candidates`` chooses; returns them."""
    engine = open_engine()
    with engine.errors("pruning images"):
        doomed = prune_candidates(known, engine.managed_image_tags(), engine.images_in_use(), repository)
        if not dry_run:
            for tag in doomed:
                progress(f"removing {tag}")
                engine.remove_image(tag)
    return doomed
