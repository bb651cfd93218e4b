"""Offline classrooms: images saved on one machine and loaded on another let `labs start` build
nothing; prune chooses only tags no known lab or container uses.

The engine here is shared: these tests use a private image name (``labs/tq<random>``), remove only
tags they created, and prune only within that private repository.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from orchestrator.catalog import Catalog
from orchestrator.classroom import lab_images, prune, prune_candidates

REPO = Path(__file__).resolve().parent.parent
LAB = "nginx-misconfig"


def _private_lab(tmp_path: Path) -> tuple[Path, str]:
    """A copy of nginx-misconfig whose proxy runs a lab-local image under a private name."""
    name = f"tq{uuid.uuid4().hex[:8]}"
    course = tmp_path / "course"
    shutil.copytree(REPO / "labs" / LAB, course / LAB)
    shutil.copytree(REPO / "images" / "nginx", course / LAB / "images" / name)
    spec = course / LAB / "lab.yaml"
    text = spec.read_text()
    assert "    image: nginx\n" in text
    spec.write_text(text.replace("    image: nginx\n", f"    image: {name}\n"))
    return course, name


def test_prune_keeps_what_known_labs_and_containers_use(tmp_path):
    course, name = _private_lab(tmp_path)
    known, errors = Catalog.from_env(course).all()
    assert not errors
    used = set(lab_images(known))
    mine = next(tag for tag in used if tag.startswith(f"labs/{name}:"))
    present = sorted(used) + [f"labs/{name}:0ld0ld0ld0ld", "labs/gone:123456789abc", "labs/kept-by-a-container:aaaaaaaaaaaa", "debian:bookworm"]
    in_use = {"labs/kept-by-a-container:aaaaaaaaaaaa"}
    assert prune_candidates(known, present, in_use) == [f"labs/{name}:0ld0ld0ld0ld", "labs/gone:123456789abc"]
    assert prune_candidates(known, present, in_use, repository=f"labs/{name}") == [f"labs/{name}:0ld0ld0ld0ld"]
    assert mine in present and mine not in prune_candidates(known, present, set())


@pytest.mark.docker
def test_saved_images_loaded_into_an_engine_without_them_start_a_lab_that_builds_nothing(engine, labs, lab_instance, instance_name, tmp_path):
    course, name = _private_lab(tmp_path)
    archive = tmp_path / "classroom-images.tar"
    try:
        prepared, shape = labs.json("prepare", LAB, "--labs-dir", str(course))
        assert prepared.returncode == 0, prepared.stderr
        (mine,) = [tag for tag in shape["images"] if tag.startswith(f"labs/{name}:")]

        saved, shape = labs.json("images", "save", str(archive), LAB, "--labs-dir", str(course))
        assert saved.returncode == 0, saved.stderr
        assert shape["schema"] == "labs.images/1" and mine in shape["images"] and "debian:bookworm" in shape["images"]
        assert archive.stat().st_size > 0

        # The learner's machine: the lab's own image is not there (only our private tag is removed).
        engine.images.remove(mine)
        assert not engine.images.list(name=mine)

        loaded, shape = labs.json("images", "load", str(archive))
        assert loaded.returncode == 0, loaded.stderr
        assert mine in shape["images"] and engine.images.list(name=mine)

        started = lab_instance(LAB, "--labs-dir", str(course))
        assert started.returncode == 0, started.stderr
        assert "building" not in started.stderr, f"a start after `labs images load` built something:\n{started.stderr}"

        # Prune, limited to our private repository: a stale tag goes, the one the lab uses stays.
        engine.images.get(mine).tag(f"labs/{name}", "0ld0ld0ld0ld")
        known, _ = Catalog.from_env(course).all()
        assert prune(known, repository=f"labs/{name}") == [f"labs/{name}:0ld0ld0ld0ld"]
        assert engine.images.list(name=mine) and not engine.images.list(name=f"labs/{name}:0ld0ld0ld0ld")
    finally:
        labs("stop", LAB, "--instance", instance_name)
        for image in engine.images.list(name=f"labs/{name}"):
            for tag in image.tags:
                if tag.startswith(f"labs/{name}:"):
                    engine.images.remove(tag)
